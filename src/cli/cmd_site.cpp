// Site commands: plan, cutover, rollback, rehearse, prune, status, up, adopt. Each loads the site
// config, wires the adapters into the operations' ports (the one place that does), calls one
// operation in src/ops/ and renders its outcome.

#include "app.hpp"
#include "host_adapters.hpp"
#include "render.hpp"

#include "mupgrade/config/load.hpp"
#include "mupgrade/config/playbook_load.hpp"
#include "mupgrade/ops/adopt.hpp"
#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/up.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <filesystem>
#include <iostream>

namespace mupgrade::cli {

namespace {

// A site or set name as mupgrade makes them: it becomes part of a path and of container names.
bool plain_name(const std::string& s, const char* more) {
  if (s.empty() || s == "." || s == "..") return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && !std::strchr(more, ch)) return false;
  return true;
}

// Bad arguments, and flags that make no sense together, are refused before anything is read
// or changed.
void refuse_bad_arguments(const std::string& command, const SiteOptions& o) {
  if (command == "cutover" && o.resume) {
    if (o.target_given) throw UsageError("--resume finishes the interrupted cutover: it takes no --target", "drop --target");
    if (o.remove_failed_green) throw UsageError("--resume replays the interrupted cutover's own choices: it takes no --remove-failed-green", "drop --remove-failed-green");
  }
  if (o.target_given && o.target.empty())
    throw UsageError("--target is empty", "give the target release's code dir, or leave --target out to use the config's target");
  if (!o.site.empty() && !plain_name(o.site, "-_"))
    throw UsageError(fmt::format("--site '{}' is not a site name (letters, digits, - and _)", o.site), "give the site's name, or its config file with --config");
  if (command == "adopt" && !plain_name(o.set, "-_."))
    throw UsageError(fmt::format("--set '{}' is not a set id (a directory name under <pool>/sets/)", o.set), "give the running set's id, e.g. --set blue-4.4.1");
}

// The outcome as the README promises: timings on stdout (stderr with --json, whose result
// alone goes to stdout); a failure as one `mupgrade: error:` line and a hint on stderr, exit 1.
int render(const ops::Outcome& o, std::ostream& out, bool json) {
  if (json) std::cout << json_result(o.operation, o.to_json()).dump(2) << "\n";
  if (!o.timings.empty()) out << "\n" << core::render_timings(o.timings, o.window_seconds);
  if (o.ok) {
    if (o.operation == "cutover" && !o.timings.empty())
      out << fmt::format("\ncutover done: {} is live; {} is kept, idle, as the rollback target ('mupgrade rollback').\n", o.green, o.blue);
    else if (o.operation == "rollback" && !o.timings.empty())
      out << fmt::format("\nrollback done: {} is live again; {} is stopped and kept.\n", o.blue, o.green);
    return kOk;
  }
  for (const auto& f : o.undo_failures) out << "  undo failed: " << f << "\n";
  std::string state;
  if (o.operation == "cutover") {
    if (o.switched)
      state = fmt::format("traffic already goes to {}: check it, or run 'mupgrade rollback' to go back to {}", o.green, o.blue);
    else if (!o.undo_failures.empty())
      state = "some undos failed: run 'mupgrade cutover --resume' ('mupgrade status' names what is left)";
    else if (o.blue_serving)
      state = fmt::format("{} serves again (seen through the public URL); green {} is kept for diagnosis (journal: {})", o.blue, o.green, o.journal);
    else
      state = fmt::format("the public URL does NOT show {} serving ({}): run 'mupgrade status'", o.blue, o.serving_detail);
    out << state << "\n";
  }
  std::cerr << fmt::format("mupgrade: error: {} failed at step '{}': {}\n", o.operation, o.failed_step, o.error);
  if (!o.hint.empty()) std::cerr << "mupgrade: hint: " << o.hint << "\n";
  return kFailed;
}

// `up`: what it found and did; exit 0 only when the public URL answered from the live set
// (a dry run changes nothing and exits 0).
int render_up(const ops::UpOutcome& o, std::ostream& out, bool json) {
  if (json) std::cout << json_result("up", o.to_json()).dump(2) << "\n";
  if (!o.timings.empty()) out << "\n" << core::render_timings(o.timings, o.window_seconds);
  if (o.ok) {
    if (o.dry_run && o.changed) out << "dry run: nothing changed.\n";
    else if (o.changed) out << fmt::format("\nup done in {:.1f} s: {} serves through the public URL{}.\n", o.seconds, o.green,
                                          o.blue.empty() ? "" : fmt::format("; {} is idle, in maintenance, as the rollback target", o.blue));
    return kOk;
  }
  for (const auto& f : o.undo_failures) out << "  undo failed: " << f << "\n";
  std::cerr << fmt::format("mupgrade: error: up failed at step '{}': {}\n", o.failed_step, o.error);
  if (!o.hint.empty()) std::cerr << "mupgrade: hint: " << o.hint << "\n";
  return kFailed;
}

std::string normal_path(const std::string& p) {
  std::string n = std::filesystem::absolute(p).lexically_normal().string();
  while (n.size() > 1 && n.back() == '/') n.pop_back();
  return n;
}

// `status` of a site with no config yet: an adoption killed before it wrote the config left
// its journal (or its lock) in the state dir. nullopt when the config exists or nothing is there.
std::optional<ops::StatusReport> unconfigured_status(const SiteOptions& o) {
  if (!o.config.empty() && !o.site.empty()) return std::nullopt;  // refused by load_site_config
  std::string config = !o.config.empty() ? o.config : o.site.empty() ? "" : config::default_path(o.site);
  std::error_code ec;
  if (config.empty() || std::filesystem::exists(config, ec)) return std::nullopt;
  std::string state_dir = !o.state_dir.empty() ? normal_path(o.state_dir) : o.site.empty() ? "" : "/var/lib/mupgrade/" + o.site;
  if (state_dir.empty()) return std::nullopt;
  auto r = ops::unconfigured_status(state_dir, o.site);
  if (r && !o.site.empty() && r->site != o.site)
    throw UsageError(fmt::format("{} holds the adoption of site {}, not of {}", state_dir, r->site, o.site), "give the site's own --state-dir");
  return r;
}

}  // namespace

core::SiteConfig load_site_config(const std::string& config, const std::string& site) {
  if (config.empty() && site.empty())
    throw UsageError("no site given", "pass --config /etc/mupgrade/SITE.yml or --site SITE");
  if (!config.empty() && !site.empty())
    throw UsageError("--config and --site both name the site", "pass one of them");
  auto cfg = config::load_site_config(config.empty() ? config::default_path(site) : config);
  config::load_playbooks(cfg);
  return cfg;
}

int site_command(const std::string& command, const SiteOptions& opts) {
  refuse_bad_arguments(command, opts);
  SiteOptions o = opts;
  if (command == "status")
    if (auto r = unconfigured_status(o)) return render_status(*r, o.json, std::cout);
  // The journal records the target: a relative one would mean another dir to a later resume.
  if (!o.target.empty()) o.target = std::filesystem::absolute(o.target).lexically_normal().string();
  core::SiteConfig cfg = load_site_config(o.config, o.site);
  if (!o.state_dir.empty() && normal_path(o.state_dir) != normal_path(cfg.state_dir))
    throw UsageError(fmt::format("--state-dir {} is not the site's state dir ({} says {})", o.state_dir, o.config.empty() ? config::default_path(o.site) : o.config,
                                 cfg.state_dir),
                     "leave --state-dir out: a site with a config has its state dir there");
  HostAdapters host(o.docker_socket);
  ops::Site site(cfg, host.ports());
  // With --json, stdout holds the JSON result only: progress and text go to stderr.
  std::ostream& text = o.json ? std::cerr : std::cout;
  ops::TextProgress progress(text);
  if (command == "plan") {
    auto report = ops::plan(site, o.target);
    int rc = render_plan(report, o.json, std::cout);
    if (!o.json) report.require_ready();  // one error line for the first failed check
    return rc;
  }
  if (command == "status") return render_status(ops::status(site), o.json, std::cout);
  if (command == "adopt" || command == "prune") {
    // Their result is the exit code and the text (on stderr with --json).
    int rc = command == "adopt" ? ops::adopt(site, o.set, text) : ops::prune(site, {o.dry_run}, text);
    if (o.json) std::cout << json_result(command, {{"ok", rc == 0}, {"site", cfg.site}, {"dry_run", o.dry_run}}).dump(2) << "\n";
    return rc;
  }
  if (command == "up") return render_up(ops::up(site, {o.dry_run}, progress, text), text, o.json);
  if (command == "cron") {
    auto c = ops::cron(site, std::cout);
    if (!c.ran) {
      // Every minute from the host's cron: a skip in a window is expected, one line, no mail-worthy error.
      std::cout << fmt::format("mupgrade cron: skipped on {} ({})\n", c.set, c.skipped);
      return kOk;
    }
    if (c.exit_code != 0) std::cerr << fmt::format("mupgrade: error: cron on {} failed: {}\n", c.set, c.error);
    return c.exit_code == 0 ? kOk : kFailed;
  }
  if (command == "rollback") return render(ops::rollback(site, {o.discard_writes, o.dry_run}, progress, text), text, o.json);
  if (command == "rehearse") return render(ops::rehearse(site, {o.target, o.keep, o.dry_run}, progress, text), text, o.json);
  if (command == "cutover") {
    if (o.resume) return render(ops::resume(site, o.dry_run, progress, text), text, o.json);
    return render(ops::cutover(site, {o.target, o.dry_run, o.remove_failed_green}, progress, text), text, o.json);
  }
  throw Error("unknown command " + command);
}

}  // namespace mupgrade::cli
