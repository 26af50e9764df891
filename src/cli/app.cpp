#include "app.hpp"
#include "docs.hpp"

#include "mupgrade/core/config_keys.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <iostream>

namespace mupgrade::cli {

namespace {
const std::vector<std::string> kDefaultImages = {"mupgrade/web:php8.2", "mupgrade/mariadb:10.11",
                                                 "mupgrade/postgres:15", "mupgrade/haproxy:2.6"};
}

const char* version() { return MUPGRADE_VERSION; }
const char* version_and_build() { return MUPGRADE_VERSION " (build " MUPGRADE_BUILD ")"; }

int run(int argc, char** argv) {
  CLI::App app{"mupgrade: blue-green upgrades of a Dockerized Moodle site over btrfs snapshots", "mupgrade"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mupgrade ") + version_and_build());
  std::string exit_codes;
  for (const auto& e : kExitCodes) exit_codes += fmt::format("\n  {}  {}", e.code, e.meaning);
  app.footer("Exit codes:" + exit_codes + "\nSite configs: /etc/mupgrade/SITE.yml (man 5 mupgrade.yml); manual: man 8 mupgrade");

  DoctorOptions doc;
  auto* doctor_cmd = app.add_subcommand("doctor", "Check that this host can run mupgrade, one line per check");
  doctor_cmd->add_option("--docker-socket", doc.docker_socket, "Docker Engine API socket")->capture_default_str();
  doctor_cmd->add_option("--config", doc.config, "a site's config: its pool, images, live DB container, proxy and URL (flags override)");
  doctor_cmd->add_option("--site", doc.site, "the site's name, for the default config path /etc/mupgrade/SITE.yml");
  auto* doctor_pool = doctor_cmd->add_option("--pool", doc.pool, "btrfs path that holds the sets' subvolumes")->capture_default_str();
  doctor_cmd->add_option("--image", doc.images, "an image that must be present (repeatable; default: mupgrade's)");
  doctor_cmd->add_option("--db-container", doc.db_container, "the live set's DB container, checked for answering");
  doctor_cmd->add_option("--proxy-container", doc.proxy_container, "the proxy container, checked for answering");
  doctor_cmd->add_option("--public-url", doc.public_url, "loopback URL of the proxy, e.g. http://127.0.0.1:18080");
  doctor_cmd->add_option("--public-host", doc.public_host, "the site's public Host name");
  doctor_cmd->add_flag("--json", doc.json, "print JSON instead of a table");

  ProxyInitOptions pin;
  auto* proxy_cmd = app.add_subcommand("proxy", "Set up the reverse proxy in front of a site");
  proxy_cmd->require_subcommand(1);
  auto* proxy_init_cmd = proxy_cmd->add_subcommand("init", "Write the proxy's first config (before its container starts)");
  proxy_init_cmd->add_option("--config", pin.config, "a site's config: its proxy and live set give the values not passed as flags");
  proxy_init_cmd->add_option("--site", pin.site, "the site's name, for the default config path /etc/mupgrade/SITE.yml");
  auto* pin_kind = proxy_init_cmd->add_option("--kind", pin.kind, "haproxy or nginx")->check(CLI::IsMember({"haproxy", "nginx"}))->capture_default_str();
  proxy_init_cmd->add_option("--config-dir", pin.config_dir, "host dir mounted as the proxy's config dir (default: the site's proxy.config_dir)")->check(CLI::ExistingDirectory);
  proxy_init_cmd->add_option("--backend-name", pin.backend_name, "the live set's id (default: the site's live set)");
  proxy_init_cmd->add_option("--backend-host", pin.backend_host, "the live set's web container name (default: the site's)");
  auto* pin_port = proxy_init_cmd->add_option("--backend-port", pin.backend_port, "the port the web container listens on (default: the site's web.port)")->check(CLI::Range(1, 65535))->capture_default_str();

  InitOptions io;
  auto* init_cmd = app.add_subcommand("init", "Make a new site from a Moodle code tree, git ref or image: first set, Moodle installed, proxy, site config");
  init_cmd->add_option("--site", io.site, "the new site's name (letters, digits, - and _)")->required();
  // Exactly one source; ops::init refuses none or two with the usual error and hint.
  init_cmd->add_option("--code", io.code, "the Moodle code tree to install (copied; a subvolume is snapshotted)");
  init_cmd->add_option("--git", io.git, "or: a local git repository (not changed; mupgrade does not fetch), with --ref");
  init_cmd->add_option("--ref", io.ref, "the ref of --git to install (tag, branch or commit; exported with git archive)");
  init_cmd->add_option("--image", io.image, "or: an image whose Moodle dir is copied out by a throwaway container");
  init_cmd->add_option("--image-path", io.image_path, "where --image keeps Moodle")->capture_default_str();
  init_cmd->add_option("--db", io.db, "mariadb or postgresql")->required();
  init_cmd->add_option("--url", io.url, "the public URL, Moodle's wwwroot: http://HOST[:PORT]")->required();
  init_cmd->add_option("--pool", io.pool, "the site's dir on btrfs (sets go to <pool>/sets/)")->required();
  init_cmd->add_option("--admin-password-file", io.admin_password_file, "file holding Moodle's admin password (default: asked on the terminal)");
  init_cmd->add_option("--proxy", io.proxy, "haproxy or nginx")->capture_default_str();
  init_cmd->add_option("--web-image", io.web_image, "web image (default mupgrade/web:php8.2; README: what it must offer)");
  init_cmd->add_option("--db-image", io.db_image, "DB image (default mupgrade/mariadb:10.11 or mupgrade/postgres:15)");
  init_cmd->add_option("--proxy-image", io.proxy_image, "proxy image (default mupgrade/haproxy:2.6 or mupgrade/nginx-proxy:1.22)");
  init_cmd->add_option("--cache", io.cache, "redis: a Redis per set for Moodle's sessions (site config 'cache')");
  init_cmd->add_option("--cache-image", io.cache_image, "--cache's image (default mupgrade/redis:7.0)");
  init_cmd->add_option("--prefix", io.prefix, "Moodle's table prefix")->capture_default_str();
  init_cmd->add_option("--fullname", io.fullname, "the Moodle site's full name (default: Moodle)");
  init_cmd->add_option("--state-dir", io.state_dir, "mupgrade's state for the site (default /var/lib/mupgrade/SITE)");
  init_cmd->add_option("--config", io.config, "where to write the site's config (default /etc/mupgrade/SITE.yml)");
  init_cmd->add_option("--docker-socket", io.docker_socket, "Docker Engine API socket")->capture_default_str();
  init_cmd->add_flag("--dry-run", io.dry_run, "check everything and print the steps, change nothing");

  SiteOptions so;
  auto site_opts = [&so](CLI::App* cmd) {
    cmd->add_option("--config", so.config, "the site's config file (default /etc/mupgrade/SITE.yml)");
    cmd->add_option("--site", so.site, "the site's name, for the default config path");
    cmd->add_option("--docker-socket", so.docker_socket, "Docker Engine API socket")->capture_default_str();
  };
  std::vector<CLI::Option*> target_opts;
  auto target_opt = [&so, &target_opts](CLI::App* cmd) {
    target_opts.push_back(cmd->add_option("--target", so.target, "code dir of the target release (default: the config's target.code)"));
  };
  auto* plan_cmd = app.add_subcommand("plan", "Read-only: what a cutover would do, preflight checks, expected window");
  site_opts(plan_cmd);
  target_opt(plan_cmd);
  plan_cmd->add_flag("--json", so.json, "print JSON");
  auto* cutover_cmd = app.add_subcommand("cutover", "Upgrade on a green set from snapshots, then switch the proxy to it");
  site_opts(cutover_cmd);
  cutover_cmd->add_flag("--json", so.json, "print the result as JSON on stdout (progress goes to stderr)");
  target_opt(cutover_cmd);
  cutover_cmd->add_flag("--dry-run", so.dry_run, "print the steps, change nothing");
  cutover_cmd->add_flag("--resume", so.resume, "finish or undo a cutover interrupted by a crash");
  cutover_cmd->add_flag("--remove-failed-green", so.remove_failed_green, "on failure, delete green instead of keeping it");
  auto* rollback_cmd = app.add_subcommand("rollback", "Send traffic back to the previous set (blue)");
  site_opts(rollback_cmd);
  rollback_cmd->add_flag("--json", so.json, "print the result as JSON on stdout (progress goes to stderr)");
  rollback_cmd->add_flag("--discard-writes", so.discard_writes, "roll back although green holds writes since the cutover");
  rollback_cmd->add_flag("--dry-run", so.dry_run, "report the writes that would be left behind, change nothing");
  auto* rehearse_cmd = app.add_subcommand("rehearse", "Nightly verification: upgrade an isolated clone of production, report, tear it down");
  site_opts(rehearse_cmd);
  rehearse_cmd->add_flag("--json", so.json, "print the result as JSON on stdout (progress goes to stderr)");
  target_opt(rehearse_cmd);
  rehearse_cmd->add_flag("--keep", so.keep, "keep the clone (stopped) instead of removing it");
  rehearse_cmd->add_flag("--dry-run", so.dry_run, "print the steps, change nothing");
  auto* prune_cmd = app.add_subcommand("prune", "Remove old sets, clones and reports by the retention policy");
  site_opts(prune_cmd);
  prune_cmd->add_flag("--json", so.json, "print the result as JSON on stdout (progress goes to stderr)");
  prune_cmd->add_flag("--dry-run", so.dry_run, "show what would be removed, remove nothing");
  auto* status_cmd = app.add_subcommand("status", "Live set, sets, last operation and where it stopped");
  site_opts(status_cmd);
  status_cmd->add_flag("--json", so.json, "print JSON");
  status_cmd->add_option("--state-dir", so.state_dir,
                         "without a site config: where an adoption killed before writing it left its journal (default /var/lib/mupgrade/SITE)");
  auto* up_cmd = app.add_subcommand("up", "Bring the site back after a reboot, a daemon restart or removed containers");
  site_opts(up_cmd);
  up_cmd->add_flag("--json", so.json, "print the result as JSON on stdout (progress goes to stderr)");
  up_cmd->add_flag("--dry-run", so.dry_run, "say what is missing or stopped and what would be done, change nothing");
  auto* cron_cmd = app.add_subcommand("cron", "Run Moodle's cron.php on the live set (from the host's cron, every minute)");
  site_opts(cron_cmd);
  AdoptOptions ao;
  auto* adopt_cmd = app.add_subcommand("adopt", "Bring a running Docker/Compose Moodle stack under mupgrade (--from), undo that (--undo), or register a set (--set)");
  adopt_cmd->add_option("--config", ao.site.config, "the site's config file (default /etc/mupgrade/SITE.yml; --from writes it)");
  adopt_cmd->add_option("--site", ao.site.site, "the site's name (--from: default the project's or container's name)");
  adopt_cmd->add_option("--docker-socket", ao.site.docker_socket, "Docker Engine API socket")->capture_default_str();
  adopt_cmd->add_flag("--json", ao.site.json, "print the result as JSON on stdout (progress goes to stderr)");
  adopt_cmd->add_option("--from", ao.from, "a running stack: its Compose project name, or its web container's name");
  adopt_cmd->add_flag("--yes", ao.yes, "--from: do it (without it, a dry run that changes nothing)");
  adopt_cmd->add_flag("--dry-run", ao.dry_run, "--from: print what it would copy where, the space, the downtime and the config; change nothing");
  adopt_cmd->add_flag("--undo", ao.undo, "stop the adopted set and start the old stack again, serving with its data");
  adopt_cmd->add_option("--pool", ao.pool, "--from: the site's dir on btrfs (default /srv/mupgrade-pool/SITE)");
  adopt_cmd->add_option("--state-dir", ao.state_dir, "mupgrade's state for the site (default /var/lib/mupgrade/SITE)");
  adopt_cmd->add_option("--web-image", ao.web_image, "--from: the set's web image (default: the stack's when it fits, else mupgrade/web:php8.2)");
  adopt_cmd->add_option("--db-image", ao.db_image, "--from: the set's DB image (default: the stack's when it fits, else the project's)");
  adopt_cmd->add_option("--proxy-image", ao.proxy_image, "--from: proxy image (default mupgrade/haproxy:2.6 or mupgrade/nginx-proxy:1.22)");
  adopt_cmd->add_option("--proxy", ao.proxy, "--from: haproxy or nginx")->capture_default_str();
  adopt_cmd->add_option("--set", ao.site.set, "register the running set <pool>/sets/ID as live (a site already in mupgrade's layout)");

  // Hidden (group ""): the packaging step renders the manual pages and the completion with it.
  std::string page;
  auto* man_cmd = app.add_subcommand("man", "Print mupgrade.8, mupgrade.yml.5, bash-completion or example-config (packaging)");
  man_cmd->group("");
  man_cmd->add_option("page", page, "which one")->required()->check(CLI::IsMember({"mupgrade.8", "mupgrade.yml.5", "bash-completion", "example-config"}));

  // CLI11 would only say that a subcommand is required: name the word it did not know.
  if (argc > 1 && argv[1][0] != '-') {
    std::string names;
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known = known || sub->check_name(argv[1]);
      if (!sub->get_group().empty()) names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::cerr << fmt::format("mupgrade: error: '{}' is not a mupgrade command (commands: {})\n", argv[1], names);
      std::cerr << "mupgrade: hint: run 'mupgrade --help'\n";
      return kUsage;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // One line, with the fix; CLI11's own text names the option.
    std::string cmd;
    for (const CLI::App* sub = &app; sub && !sub->get_subcommands().empty();) {
      sub = sub->get_subcommands().front();
      cmd += " " + sub->get_name();
    }
    std::cerr << fmt::format("mupgrade: error: {} (run 'mupgrade{} --help')\n", e.what(), cmd);
    return kUsage;
  }

  for (const auto* o : target_opts) so.target_given = so.target_given || o->count() > 0;
  doc.pool_given = doctor_pool->count() > 0;
  pin.kind_given = pin_kind->count() > 0;
  pin.port_given = pin_port->count() > 0;

  if (*man_cmd) {
    if (page == "mupgrade.8") std::cout << render_command_man(app, version());
    else if (page == "mupgrade.yml.5") std::cout << core::render_config_man(version());
    else if (page == "bash-completion") std::cout << render_bash_completion(app);
    else std::cout << core::example_site_config();
    return kOk;
  }

  try {
    if (*doctor_cmd) {
      doc.images_given = !doc.images.empty();
      if (doc.images.empty()) doc.images = kDefaultImages;
      return doctor(doc);
    }
    if (*proxy_init_cmd) return proxy_init(pin);
    if (*init_cmd) return init(io);
    if (*adopt_cmd) return adopt(ao);
    for (auto* cmd : {plan_cmd, cutover_cmd, rollback_cmd, rehearse_cmd, prune_cmd, status_cmd, up_cmd, cron_cmd})
      if (*cmd) return site_command(cmd->get_name(), so);
  } catch (const UsageError& e) {
    std::cerr << describe_error(e) << "\n";
    return kUsage;
  } catch (const core::LockHeld& e) {
    std::cerr << describe_error(e) << "\n";
    return kBusy;
  } catch (const std::exception& e) {
    std::cerr << describe_error(e) << "\n";
    return kFailed;
  }
  return kUsage;
}

}  // namespace mupgrade::cli
