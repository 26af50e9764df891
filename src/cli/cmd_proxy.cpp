// `mupgrade proxy init`: the proxy's first config, so a site can be fronted before its first cutover.

#include "app.hpp"

#include "mupgrade/core/error.hpp"
#include "mupgrade/proxy/proxy.hpp"

#include <fmt/format.h>

#include <iostream>

namespace mupgrade::cli {

int proxy_init(const ProxyInitOptions& opts) {
  if (opts.backend_name.empty()) throw UsageError("--backend-name is empty", "give the live set's id");
  if (opts.backend_host.empty()) throw UsageError("--backend-host is empty", "give the live set's web container name");
  docker::DockerEngine engine;  // unused by install, which only writes files
  proxy::ProxySite site{core::proxy_kind_named(opts.kind).value_or(core::ProxyKind::haproxy), "", opts.config_dir, "", ""};
  auto p = opts.kind == "haproxy" ? proxy::make_haproxy(engine, site) : proxy::make_nginx(engine, site);
  if (auto current = p->current())
    throw UsageError(fmt::format("{} already holds a mupgrade proxy config (live backend {})", opts.config_dir, current->name),
                     "the proxy is set up already: switch it with 'mupgrade cutover' or 'mupgrade rollback'");
  p->install({opts.backend_name, opts.backend_host, "", opts.backend_port});
  std::cout << fmt::format("{} config written to {} (backend {} at {}:{})\n", opts.kind, opts.config_dir,
                           opts.backend_name, opts.backend_host, opts.backend_port);
  return kOk;
}

}  // namespace mupgrade::cli
