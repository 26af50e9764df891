// `mupgrade proxy init`: the proxy's first config, so a site can be fronted before its first cutover.

#include "app.hpp"

#include "mupgrade/core/error.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/proxy/proxy.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

namespace mupgrade::cli {

namespace {

// With --site/--config: the proxy's kind and config dir, the live set and its web container
// and port, from the site config and site.json; a flag given still wins.
ProxyInitOptions with_site(const ProxyInitOptions& given) {
  ProxyInitOptions o = given;
  if (given.config.empty() && given.site.empty()) return o;
  auto cfg = load_site_config(given.config, given.site);
  if (!given.kind_given) o.kind = std::string(core::to_string(cfg.proxy.kind));
  if (o.config_dir.empty()) o.config_dir = cfg.proxy.config_dir;
  if (!given.port_given) o.backend_port = cfg.web_port;
  auto st = core::load_site_state(cfg.state_dir);
  std::string live = st ? st->live_set : "";
  if (o.backend_name.empty()) o.backend_name = live;
  if (o.backend_host.empty() && !live.empty()) o.backend_host = core::SetLayout(cfg).web_container(live);
  if (!std::filesystem::is_directory(o.config_dir))
    throw UsageError(fmt::format("the proxy's config dir {} does not exist", o.config_dir), "create it (mkdir -p), or pass --config-dir");
  return o;
}

}  // namespace

int proxy_init(const ProxyInitOptions& given) {
  ProxyInitOptions opts = with_site(given);
  if (opts.config_dir.empty()) throw UsageError("no proxy config dir", "pass --config-dir DIR, or --site SITE to read it from the site config");
  if (opts.backend_name.empty()) throw UsageError("--backend-name is empty and no --site names the live set", "pass --backend-name SET (the live set's id), or --site SITE whose site.json names it");
  if (opts.backend_host.empty()) throw UsageError("no backend host", "pass --backend-host CONTAINER (the live set's web container)");
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
