#pragma once
// Every outside system the operations touch, as narrow interfaces. The CLI wires the adapters
// (src/docker, src/btrfs, src/db, src/http, src/process, src/proxy, src/report) in; unit tests wire the
// recording fakes of tests/unit/fakes. src/ops includes no adapter header: the build checks it.

#include "mupgrade/ports/commands.hpp"
#include "mupgrade/ports/containers.hpp"
#include "mupgrade/ports/database.hpp"
#include "mupgrade/ports/http.hpp"
#include "mupgrade/ports/proxy.hpp"
#include "mupgrade/ports/reporting.hpp"
#include "mupgrade/ports/storage.hpp"

namespace mupgrade::ports {

struct Ports {
  Storage& storage;
  Containers& containers;
  Commands& commands;
  Http& http;
  Database& db;
  Proxies& proxies;
  Reporting& reporting;
};

}  // namespace mupgrade::ports
