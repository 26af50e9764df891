// `mupgrade adopt`: --from (bring a running Docker/Compose stack in; a dry run without --yes),
// --undo (the old stack back), or --set (register a set already in mupgrade's layout, which
// the site commands handle). Wires the adapters, runs ops::adopt_* and renders the outcome.

#include "app.hpp"
#include "host_adapters.hpp"
#include "render.hpp"

#include "mupgrade/config/load.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/ops/adopt.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <iostream>

namespace mupgrade::cli {

namespace {

std::string absolute(const std::string& p) { return p.empty() ? p : std::filesystem::absolute(p).lexically_normal().string(); }

// Where the adoption's journal is: the state dir of the site's config when it was written,
// else --state-dir, else the default.
std::string undo_state_dir(const AdoptOptions& o) {
  std::string config = !o.site.config.empty() ? o.site.config : config::default_path(o.site.site);
  if (!o.state_dir.empty()) return absolute(o.state_dir);
  if (std::filesystem::exists(config)) return config::load_site_config(config).state_dir;
  return "/var/lib/mupgrade/" + o.site.site;
}

int render(const ops::AdoptOutcome& o, bool undo, bool json, std::ostream& out) {
  if (json)
    std::cout << json_result("adopt", {{"ok", o.ok}, {"site", o.site}, {"dry_run", o.dry_run}, {"undo", undo}, {"set", o.set},
                                       {"downtime_s", o.downtime_s}, {"failed_step", o.failed_step}, {"error", o.error},
                                       {"journal", o.journal}, {"steps", core::timings_to_json(o.timings)}})
                     .dump(2)
              << "\n";
  if (!o.timings.empty()) out << "\n" << core::render_timings(o.timings, undo ? 0 : o.window_seconds);
  if (o.ok) {
    if (!undo && !o.dry_run)
      out << fmt::format(
          "\nadopt done: site {} serves from set {} at {} (proxy on {}); downtime {:.2f} s.\n"
          "config: {}; the old stack is stopped and untouched ('mupgrade adopt --undo --site {}' brings it back).\n"
          "next: mupgrade status --site {}; put the next release under 'target:' in {}, then plan, rehearse, cutover.\n",
          o.site, o.set, o.public_url, o.proxy_url, o.downtime_s, o.config_file, o.site, o.site, o.config_file);
    return kOk;
  }
  for (const auto& f : o.undo_failures) out << "  undo failed: " << f << "\n";
  std::cerr << fmt::format("mupgrade: error: adopt{} failed{}: {}\n", undo ? " --undo" : "",
                           o.failed_step.empty() ? "" : " at step '" + o.failed_step + "'", o.error);
  if (!o.hint.empty()) std::cerr << "mupgrade: hint: " << o.hint << "\n";
  return kFailed;
}

}  // namespace

int adopt(const AdoptOptions& o) {
  int modes = !o.from.empty() + o.undo + !o.site.set.empty();
  if (modes != 1)
    throw UsageError("adopt needs one of --from, --undo or --set",
                     "'mupgrade adopt --from PROJECT' (a running stack), '--undo --site S', or '--set ID --site S' (a set in mupgrade's layout)");
  if (!o.site.set.empty()) return site_command("adopt", o.site);
  if ((o.yes || o.dry_run) && o.undo) throw UsageError("--undo takes neither --yes nor --dry-run", "run 'mupgrade adopt --undo --site S'");
  if (o.yes && o.dry_run) throw UsageError("--yes and --dry-run contradict each other", "pass one of them");
  HostAdapters host(o.site.docker_socket);
  std::ostream& text = o.site.json ? std::cerr : std::cout;
  ops::TextProgress progress(text);
  if (o.undo) {
    if (o.site.site.empty()) throw UsageError("--undo needs --site", "pass --site S (the adopted site's name)");
    return render(ops::adopt_undo(host.ports(), o.site.site, undo_state_dir(o), progress, text), true, o.site.json, text);
  }
  ops::AdoptRequest req;
  req.from = o.from;
  req.site = o.site.site;
  req.pool = absolute(o.pool);
  req.state_dir = absolute(o.state_dir);
  req.config_file = absolute(o.site.config);
  req.web_image = o.web_image;
  req.db_image = o.db_image;
  req.proxy_image = o.proxy_image;
  req.proxy_kind = o.proxy;
  req.yes = o.yes;
  return render(ops::adopt_from(host.ports(), req, progress, text), false, o.site.json, text);
}

}  // namespace mupgrade::cli
