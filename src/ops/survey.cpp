#include "survey.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

namespace {
// Where the live code is mounted beside the target's, so one container asks both.
constexpr const char* kLiveCodeRoot = "/var/www/moodle-live";
}  // namespace

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string describe_differences(const std::vector<moodle::SchemaDifference>& diffs) {
  std::string out;
  for (const auto& d : diffs) out += (out.empty() ? "" : "; ") + d.table + ": " + d.what;
  return out;
}

TargetSurvey survey_target(Site& site, const std::string& live_set, const SurveyPlace& place) {
  auto& containers = site.ports().containers;
  const auto& cfg = site.config();
  site.delete_if_subvolume(place.scratch);
  site.ports().storage.snapshot(site.paths(live_set).moodledata, place.scratch);
  // The throwaway sits on the live set's network, where "cache" is the live set's Redis: without
  // the MUC config the target's code keeps its caches in the scratch moodledata, never in it.
  if (site.config().cache.enabled()) site.ports().storage.remove(place.scratch + "/muc/config.php");
  if (containers.inspect_container(place.container)) containers.remove_container(place.container, true);
  ports::ContainerSpec spec;
  spec.name = place.container;
  spec.image = cfg.target_image;
  spec.labels = place.labels;
  spec.network = site.set_network(live_set);  // the live DB answers there to "db", as config.php says
  spec.mounts = {{place.code, core::kContainerCodeRoot, true},
                 {site.paths(live_set).code, kLiveCodeRoot, true},
                 {place.scratch, core::kContainerMoodledata, false}};
  spec.entrypoint = {"sleep", "600"};
  auto cleanup = [&] {
    if (containers.inspect_container(place.container)) containers.remove_container(place.container, true);
    site.delete_if_subvolume(place.scratch);
  };
  TargetSurvey s;
  try {
    containers.create_container(spec);
    containers.start_container(place.container);
    // The live code first, on the data as the live site left it: its own schema drift.
    try {
      moodle::MoodleCli live(containers, place.container, moodle::CodeLayout{kLiveCodeRoot, site.code_layout(site.paths(live_set).code).public_dir});
      if (auto diff = live.schema_differences()) s.live_schema = moodle::parse_schema_differences(*diff);
    } catch (const moodle::MoodleCliError& e) {
      // The script ran and failed (e.g. the live release does not run on the target image's
      // PHP): no baseline, and the operator is told. A failing container or daemon is not this.
      s.live_schema_error = e.what();
    }
    moodle::MoodleCli target(containers, place.container, moodle::CodeLayout{core::kContainerCodeRoot, site.code_layout(place.code).public_dir});
    s.pending = target.upgrade_pending();
    if (s.pending == moodle::PendingState::pending) {
      s.maintenance_required = target.maintenance_required();
      s.missing_plugins = target.missing_plugins();
      s.refused_plugins = target.refused_plugins();
    }
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return s;
}

}  // namespace mupgrade::ops
