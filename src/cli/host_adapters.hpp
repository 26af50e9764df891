#pragma once
// The adapters of this host, wired into the operations' ports (the one place that does).

#include "mupgrade/btrfs/local_storage.hpp"
#include "mupgrade/db/site_database.hpp"
#include "mupgrade/docker/docker_engine.hpp"
#include "mupgrade/http/http_client.hpp"
#include "mupgrade/ports/ports.hpp"
#include "mupgrade/process/run.hpp"
#include "mupgrade/proxy/proxy.hpp"
#include "mupgrade/report/host_reporting.hpp"

#include <string>

namespace mupgrade::cli {

struct HostAdapters {
  explicit HostAdapters(const std::string& docker_socket) : engine(docker_socket), proxies(engine) {}
  docker::DockerEngine engine;
  btrfs::LocalStorage storage;
  process::LocalCommands commands;
  http::CurlHttp http;
  db::SqlDatabase db;
  proxy::DockerProxies proxies;
  report::HostReporting reporting;
  ports::Ports ports() { return {storage, engine, commands, http, db, proxies, reporting}; }
};

}  // namespace mupgrade::cli
