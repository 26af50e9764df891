#include "survey.hpp"

#include <fmt/format.h>

#include <exception>
#include <future>

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
    // Each question is one PHP run of Moodle's whole bootstrap (about 2 s on real Moodle), and
    // plan and the cutover wait on all five: they run in three rounds instead of five. Not all
    // at once: each code writes its own cache config (muc/config.php) into the shared
    // moodledata on its first run, and real Moodle's writers, two codes at once, fail ("Unable
    // to save the cache config to file."). So the live code alone, then the target's first
    // question alone, then the three that matter only for a pending upgrade at once (its cache
    // config is written by then). All only read the DB.
    auto live_layout = moodle::CodeLayout{kLiveCodeRoot, site.code_layout(site.paths(live_set).code).public_dir};
    auto target_layout = moodle::CodeLayout{core::kContainerCodeRoot, site.code_layout(place.code).public_dir};
    // The live code on the data as the live site left it: its own schema drift.
    std::optional<std::string> live_diff;
    try {
      live_diff = moodle::MoodleCli(containers, place.container, live_layout).schema_differences();
    } catch (const moodle::MoodleCliError& e) {
      // The script ran and failed (e.g. the live release does not run on the target image's
      // PHP): no baseline, and the operator is told. A failing container or daemon is not this.
      s.live_schema_error = e.what();
    }
    s.pending = moodle::MoodleCli(containers, place.container, target_layout).upgrade_pending();
    if (s.pending == moodle::PendingState::pending) {
      auto ask = [&](auto question) {
        return std::async(std::launch::async, [&containers, &place, target_layout, question] {
          moodle::MoodleCli target(containers, place.container, target_layout);
          return question(target);
        });
      };
      auto maintenance = ask([](moodle::MoodleCli& t) { return t.maintenance_required(); });
      auto missing = ask([](moodle::MoodleCli& t) { return t.missing_plugins(); });
      auto refused = ask([](moodle::MoodleCli& t) { return t.refused_plugins(); });
      // Every thread is joined before anything throws: none may outlive this frame's references.
      std::exception_ptr first_error;
      auto take = [&first_error](auto& f, auto& out) {
        try {
          out = f.get();
        } catch (...) {
          if (!first_error) first_error = std::current_exception();
        }
      };
      take(maintenance, s.maintenance_required);
      take(missing, s.missing_plugins);
      take(refused, s.refused_plugins);
      if (first_error) std::rethrow_exception(first_error);
    }
    if (live_diff) s.live_schema = moodle::parse_schema_differences(*live_diff);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return s;
}

}  // namespace mupgrade::ops
