#include "preflight.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/journal.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/ops/plans.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace mupgrade::ops {

using core::CheckResult;
using core::CheckStatus;

namespace {

// Checks whose failure is the admin's input (config, arguments), not the host's state.
bool is_usage(const std::string& check) { return check == "config" || check == "target" || check == "site step"; }

void check_live_db(Site& site, Preflight& p) {
  const auto& cfg = site.config();
  const std::string& live = p.state->live_set;
  try {
    site.db_password();
  } catch (const Error& e) {
    p.checks.push_back({"config", CheckStatus::fail, e.what(), e.hint()});
    return;
  }
  try {
    // A DB server of the other engine publishes the other engine's port, so the endpoint would
    // only say "no port": name the config's mistake instead.
    if (auto info = site.ports().containers.inspect_container(site.db_container(live)); info && info->running) {
      auto other = cfg.db.kind == core::DbKind::mariadb ? core::DbKind::postgresql : core::DbKind::mariadb;
      int port = core::engine_of(cfg.db.kind).port, other_port = core::engine_of(other).port;
      if (!info->host_ports.count(port) && info->host_ports.count(other_port)) {
        p.checks.push_back({"config", CheckStatus::fail,
                            fmt::format("db.kind is {}, but the live DB container {} serves {}'s port {}, not {}", core::to_string(cfg.db.kind),
                                        site.db_container(live), core::to_string(other), other_port, port),
                            "set db.kind to the live DB's engine"});
        return;
      }
    }
    // Moodle reads its tables with the live config.php's prefix; a site config that names another
    // one would make every query of the write guard and the smoke test look at the wrong tables.
    if (auto php = site.config_php_prefix(live); php && cfg.db.prefix_given && *php != cfg.db.prefix) {
      p.checks.push_back({"config", CheckStatus::fail,
                          fmt::format("db.prefix is '{}', but the live site's config.php says $CFG->prefix = '{}'", cfg.db.prefix, *php),
                          "remove db.prefix from the site config (mupgrade reads the prefix from the live config.php), or make them agree"});
      return;
    }
    auto ep = site.db_endpoint(live);
    p.db_server = site.ports().db.server_version(ep);
    bool says_mariadb = p.db_server.find("MariaDB") != std::string::npos;
    if (says_mariadb != (cfg.db.kind == core::DbKind::mariadb)) {
      p.checks.push_back({"config", CheckStatus::fail,
                          fmt::format("db.kind is {}, but the live DB server is {}", core::to_string(cfg.db.kind), p.db_server),
                          "set db.kind to the live DB's engine"});
      return;
    }
    p.live_version = site.db_config_value(live, "version");
    p.live_release = site.db_config_value(live, "release");
    if (p.live_version.empty())
      throw Error(fmt::format("no Moodle version in {}config", ep.prefix), "check db.name in the site config and $CFG->prefix in the live config.php");
    p.checks.push_back({"live set", CheckStatus::ok, fmt::format("{}: Moodle {} ({}), {} {}", live, p.live_release, p.live_version, core::to_string(cfg.db.kind), p.db_server), ""});
  } catch (const Error& e) {
    p.checks.push_back({"live set", CheckStatus::fail, e.what(), e.hint().empty() ? "mupgrade status; start the live set's containers" : e.hint()});
  } catch (const std::exception& e) {
    p.checks.push_back({"live set", CheckStatus::fail, e.what(), "mupgrade status; start the live set's containers"});
  }
}

void check_target(Site& site, Preflight& p, const std::string& target_override) {
  const auto& cfg = site.config();
  bool from_image = target_override.empty() && cfg.target_code.empty() && cfg.target_git_repo.empty() && !cfg.target_image_code.empty();
  if (from_image && !site.ports().containers.image(cfg.target_image)) {
    // Not the config's fault: the host lacks the image, and the image check fails on it.
    p.checks.push_back({"target", CheckStatus::warn, fmt::format("the code comes from {}, which is not on this host", cfg.target_image), ""});
    return;
  }
  try {
    p.release = resolve_target(site, target_override);
    p.target = target_version(site, *p.release);
  } catch (const Error& e) {
    p.checks.push_back({"target", CheckStatus::fail, e.what(), e.hint()});
    return;
  }
  auto live_v = core::MoodleVersion::parse(p.live_version);
  if (live_v && *p.target->version < *live_v)
    p.checks.push_back({"target", CheckStatus::fail,
                        fmt::format("{} ({}) is OLDER than the live DB ({}): Moodle refuses downgrades", p.target->release, p.target->version->str(), p.live_version),
                        "pick a newer release as the target"});
  else if (live_v && *p.target->version == *live_v)
    p.checks.push_back({"target", CheckStatus::fail, fmt::format("{}: the same core version as the live DB: there is nothing to upgrade", p.target->release),
                        "pick a newer release as the target"});
  else
    p.checks.push_back({"target", CheckStatus::ok, fmt::format("{} ({}) from {}", p.target->release, p.target->version->str(), p.release->describe()), ""});
  if (p.release->source != TargetRelease::Source::code)
    p.checks.push_back({"target code", CheckStatus::ok,
                        p.release->extracted() ? "extracted in " + p.release->code_dir
                                               : "not extracted yet: the next rehearsal or cutover extracts it into " + p.release->code_dir + ", before any window",
                        ""});
  if ((p.release->source == TargetRelease::Source::code || p.release->extracted()) && site.ports().storage.exists(p.release->code_dir + "/config.php"))
    p.checks.push_back({"target config.php", CheckStatus::warn, "the target tree carries its own config.php: it is ignored, green always gets the live site's config.php", ""});
}

void check_images(Site& site, Preflight& p) {
  const auto& cfg = site.config();
  std::vector<std::string> images = {cfg.target_image, cfg.db.image};
  if (cfg.cache.enabled()) images.push_back(cfg.cache.image);
  for (const auto& image : images) {
    auto info = site.ports().containers.image(image);
    if (!info) {
      p.checks.push_back({"image " + image, CheckStatus::fail, "missing", "build or pull it before the cutover"});
      continue;
    }
    std::string php = info->labels.count("mupgrade.php") ? info->labels.at("mupgrade.php") : "";
    if (image == cfg.target_image && p.target && !php.empty()) {
      auto range = core::php_range_for_branch(p.target->branch);
      if (range && !core::php_in_range(php, *range)) {
        p.checks.push_back({"image " + image, CheckStatus::fail, fmt::format("PHP {}, but Moodle branch {} needs PHP {}-{}", php, p.target->branch, range->min, range->max),
                            "build a web image with a matching PHP (containers/web, --build-arg PHP=...) and set target.image"});
        continue;
      }
    }
    p.checks.push_back({"image " + image, CheckStatus::ok, php.empty() ? "present" : "present, PHP " + php, ""});
  }
}

// The pool's one check, shared by the preflight and require_pool(); nullopt when it passes.
std::optional<CheckResult> pool_problem(Site& site) {
  const auto& cfg = site.config();
  auto& storage = site.ports().storage;
  if (storage.is_directory(cfg.pool) && storage.is_btrfs(cfg.pool)) return std::nullopt;
  return CheckResult{"config", CheckStatus::fail, fmt::format("pool {} is not a directory on btrfs", cfg.pool),
                     "point 'pool' at a btrfs path (scripts/setup makes one)"};
}

void check_pool(Site& site, Preflight& p) {
  const auto& cfg = site.config();
  auto& storage = site.ports().storage;
  if (auto problem = pool_problem(site)) {
    p.checks.push_back(*problem);
    return;
  }
  try {
    auto space = storage.space(cfg.pool);
    p.checks.push_back({"free space", space.free_bytes < core::kMinPoolFreeBytes ? CheckStatus::fail : CheckStatus::ok,
                        fmt::format("{:.1f} GiB free in {}", double(space.free_bytes) / (1 << 30), cfg.pool), "mupgrade prune, or grow the pool"});
  } catch (const std::exception& e) {
    p.checks.push_back({"free space", CheckStatus::fail, e.what(), "check the pool path"});
  }
}

void check_proxy(Site& site, Preflight& p) {
  const auto& cfg = site.config();
  try {
    auto proxy = site.proxy();
    proxy->check_ready();
    auto backend = proxy->current();
    std::string live = p.state ? p.state->live_set : "";
    if (!backend || backend->name != live) {
      p.checks.push_back({"proxy", CheckStatus::fail, fmt::format("{} -> {}", core::to_string(cfg.proxy.kind), backend ? backend->name : "(not set up)"),
                          "the proxy must point at the live set: mupgrade status"});
      return;
    }
    // The switch is confirmed, and blue's return seen, through this URL and Host: a wrong
    // proxy.url or public_url would fail the cutover in its window, not here.
    std::string seen;
    if (!site.serves_publicly(live, &seen)) {
      p.checks.push_back({"proxy", CheckStatus::fail,
                          fmt::format("{} with Host {} does not answer 200 from the live set {} ({})", cfg.proxy.url, cfg.public_host, live, seen),
                          "check proxy.url and public_url (Moodle's wwwroot) in the site config; mupgrade status"});
      return;
    }
    p.checks.push_back({"proxy", CheckStatus::ok, fmt::format("{} -> {}, runtime API answers, {} serves it", core::to_string(cfg.proxy.kind), backend->name, cfg.proxy.url), ""});
  } catch (const Error& e) {
    p.checks.push_back({"proxy", CheckStatus::fail, e.what(), e.hint()});
  } catch (const std::exception& e) {
    // E.g. a state file the driver of proxy.kind cannot read: another kind's.
    p.checks.push_back({"proxy", CheckStatus::fail,
                        fmt::format("the {} driver cannot read the proxy's state in {} ({})", core::to_string(cfg.proxy.kind), cfg.proxy.config_dir, e.what()),
                        "check proxy.kind and proxy.config_dir in the site config"});
  }
}

// A cutover drains cron in the live web container before the window: a stopped one would
// fail it after green was made.
void check_live_web(Site& site, Preflight& p) {
  const std::string& live = p.state->live_set;
  try {
    if (!site.web_running(live))
      p.checks.push_back({"live set", CheckStatus::fail,
                          fmt::format("the web container {} of the live set {} is not running", site.web_container(live), live),
                          "docker start " + site.web_container(live)});
  } catch (const std::exception& e) {
    p.checks.push_back({"live set", CheckStatus::fail, e.what(), "check the Docker daemon"});
  }
}

// Green's web container joins the proxy's network before the window: a missing one would
// fail the cutover after green was made.
void check_network(Site& site, Preflight& p) {
  const auto& cfg = site.config();
  try {
    if (!site.ports().containers.network(cfg.network))
      p.checks.push_back({"network", CheckStatus::fail, fmt::format("the proxy's network {} does not exist", cfg.network),
                          "fix 'network' in the site config (default mupgrade-<site>), or create it and connect the proxy to it"});
  } catch (const std::exception& e) {
    p.checks.push_back({"network", CheckStatus::fail, e.what(), "check the Docker daemon"});
  }
}

void check_site_steps(Site& site, Preflight& p, const std::string& operation) {
  for (const auto& st : site.config().steps) {
    if (st.kind != "host" || std::find(st.operations.begin(), st.operations.end(), operation) == st.operations.end()) continue;
    if (!site.ports().commands.executable(st.command.at(0)))
      p.checks.push_back({"site step", CheckStatus::fail, fmt::format("'{}' ({}): {} is not an executable program", st.name, st.where, st.command[0]),
                          "install it, or fix the step's command in the site config"});
  }
}

}  // namespace

void Preflight::require_passed() const {
  for (const auto& c : checks)
    if (c.status == CheckStatus::fail) {
      std::string what = fmt::format("preflight: {}: {}", c.name, c.detail);
      if (is_usage(c.name)) throw UsageError(what, c.fix);
      throw Error(what, c.fix);
    }
}

Preflight preflight(Site& site, const std::string& target_override, const std::string& operation) {
  Preflight p;
  p.state = site.state();
  if (!p.state || p.state->live_set.empty()) {
    p.checks.push_back({"live set", CheckStatus::fail, fmt::format("none recorded in {}/site.json", site.config().state_dir),
                        "register the running set first: mupgrade adopt --set ID"});
  } else {
    check_live_db(site, p);
    if (operation == "cutover") check_live_web(site, p);
  }
  check_pool(site, p);
  check_target(site, p, target_override);
  check_images(site, p);
  if (operation == "cutover") {
    check_network(site, p);
    check_proxy(site, p);
  }
  check_site_steps(site, p, operation);
  return p;
}

void require_pool(Site& site) {
  if (auto problem = pool_problem(site)) throw UsageError(problem->detail, problem->fix);
}

core::SiteState require_live_set(Site& site) {
  const auto& cfg = site.config();
  auto state = site.state();
  if (!state || state->live_set.empty())
    throw Error(fmt::format("site {} has no live set recorded in {}/site.json", cfg.site, cfg.state_dir),
                "register the running set first: mupgrade adopt --set ID");
  return *state;
}

bool unfinished(const core::JournalSummary& j) {
  if (!j.finished || j.outcome == "undo-failed") return true;
  const auto* sw = j.find(step::switch_proxy);
  // A switch undone (green's first page failed after it) moved traffic back: nothing to finish.
  if (!sw || !sw->ended || sw->outcome != "ok" || sw->undone || !j.args.contains("steps")) return false;
  bool after = false;
  for (const auto& name : j.args["steps"]) {
    if (after) {
      const auto* rec = j.find(name.get<std::string>());
      if (!rec || !rec->ended || rec->outcome != "ok") return true;
    }
    after = after || name == step::switch_proxy;
  }
  return false;
}

void refuse_if_interrupted(Site& site, const std::string& fix) {
  std::string last = site.last_journal_path();
  if (last.empty() || !core::read_state_file(last)) return;
  auto j = core::read_journal(last);
  if (!j.finished)
    throw Error(fmt::format("the last operation ({}) was interrupted at step '{}'", j.operation, j.interrupted_step().value_or("?")), fix);
  if (j.outcome == "undo-failed")
    throw Error(fmt::format("the last operation ({}) failed and could not undo all of its steps", j.operation), fix);
  if (unfinished(j))
    throw Error(fmt::format("the last operation ({}) switched traffic but did not finish its later steps", j.operation), fix);
}

bool rehearsal_proves_checks(const core::RehearsalReport& rh, const Preflight& pre, double now_epoch) {
  return rh.ok && pre.target && pre.release && pre.state && rh.target_release == pre.target->release &&
         rh.target_code == pre.release->describe() && now_epoch - rh.started_epoch < 24 * 3600 &&
         (pre.state->cutover_at.empty() || rh.started_at > pre.state->cutover_at) &&
         std::any_of(rh.timings.begin(), rh.timings.end(), [](const auto& t) { return t.name == "checks" && t.outcome == "ok"; });
}

}  // namespace mupgrade::ops
