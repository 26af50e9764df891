#pragma once
// What Moodle itself says about a target before any window: the target's code run against the
// live DB in a throwaway container (over a snapshot of the live moodledata), by plan and by
// verify-target. Only Moodle's read-only answers are asked for; the live DB is not changed.

#include "mupgrade/ops/site.hpp"

#include <optional>
#include <string>
#include <vector>

namespace mupgrade::ops {

struct TargetSurvey {
  moodle::PendingState pending = moodle::PendingState::pending;
  /// upgrade.php --is-maintenance-required; nullopt before Moodle 4.2 (it has no such option).
  std::optional<bool> maintenance_required;
  std::vector<std::string> missing_plugins;  // on the live site, not in the target tree
  std::vector<std::string> refused_plugins;  // upgrade.php's plugin check fails on them
  /// check_database_schema.php of the live code on the live DB: the site's own drift.
  std::vector<moodle::SchemaDifference> live_schema;
  std::string live_schema_error;  // when the live schema could not be checked: why
};

/// Where the survey runs: `code` is a target tree that already holds the live config.php,
/// `scratch` a path for the moodledata snapshot, `container` the throwaway container's name.
struct SurveyPlace {
  std::string code, scratch, container;
  ports::Labels labels;
};

/// Creates the throwaway container, asks, and removes it and the scratch snapshot whatever
/// happens (a kill leaves them to the caller's undo: the names are the caller's).
TargetSurvey survey_target(Site& site, const std::string& live_set, const SurveyPlace& place);

/// The fix for each refusal, shared by plan and verify-target.
inline constexpr const char* kMissingPluginsFix =
    "add their code to the target tree (a version for the target release), or a site step after prepare-code that puts it in "
    "$MUPGRADE_CODE; an add-on the site no longer wants: uninstall it on the live site first (admin/cli/uninstall_plugins.php --plugins=... --run)";
inline constexpr const char* kRefusedPluginsFix =
    "put a version of each that supports the target release into the target tree (or a site step that carries it), or remove it from the target";

/// "local_a, local_b".
std::string join_names(const std::vector<std::string>& names);
/// "user: column 'x' is not expected (C); ..." of a schema report.
std::string describe_differences(const std::vector<moodle::SchemaDifference>& diffs);

}  // namespace mupgrade::ops
