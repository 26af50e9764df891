// Site commands: plan, cutover, rollback, rehearse, prune, status, adopt. Each loads the site config and
// calls one operation in src/ops/.

#include "app.hpp"

#include "mupgrade/config/load.hpp"
#include "mupgrade/ops/operations.hpp"

#include <iostream>

namespace mupgrade::cli {

namespace {
core::SiteConfig load(const SiteOptions& o) {
  if (o.config.empty() && o.site.empty())
    throw UsageError("no site given", "pass --config /etc/mupgrade/SITE.yml or --site SITE");
  return config::load_site_config(o.config.empty() ? config::default_path(o.site) : o.config);
}
}  // namespace

int site_command(const std::string& command, const SiteOptions& o) {
  core::SiteConfig cfg = load(o);
  docker::DockerEngine engine(o.docker_socket);
  ops::Site site(cfg, engine);
  if (command == "plan") return ops::plan(site, o.target, o.json, std::cout);
  if (command == "status") return ops::status(site, o.json, std::cout);
  if (command == "adopt") return ops::adopt(site, o.set, std::cout);
  if (command == "rollback") return ops::rollback(site, {o.discard_writes, o.dry_run}, std::cout);
  if (command == "rehearse") return ops::rehearse(site, {o.target, o.keep, o.dry_run}, std::cout);
  if (command == "prune") return ops::prune(site, {o.dry_run}, std::cout);
  if (command == "cutover") {
    if (o.resume) return ops::resume(site, std::cout);
    return ops::cutover(site, {o.target, o.dry_run, o.remove_failed_green}, std::cout);
  }
  throw Error("unknown command " + command);
}

}  // namespace mupgrade::cli
