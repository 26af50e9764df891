#pragma once
// The steps of cutover, rehearse and rollback: one table (src/ops/steps/*.cpp), ordered by the
// site's playbooks, with the site's own steps. The journal records the composed list and the
// context, so that `resume` replays exactly what ran.

#include "mupgrade/core/executor.hpp"
#include "mupgrade/core/playbook.hpp"
#include "mupgrade/ops/site.hpp"

#include <functional>
#include <string>
#include <vector>

namespace mupgrade::ops {

/// Step names the operations refer to; each string lives here only.
namespace step {
inline constexpr const char* prepare_code = "prepare-code";
inline constexpr const char* verify_target = "verify-target";
inline constexpr const char* db_prepare = "db-prepare";
inline constexpr const char* maintenance_on = "maintenance-on";
inline constexpr const char* snapshot = "snapshot";
inline constexpr const char* start_green = "start-green";
inline constexpr const char* upgrade = "upgrade";
inline constexpr const char* switch_proxy = "switch-proxy";
inline constexpr const char* green_first_page = "green-first-page";
inline constexpr const char* write_guard = "write-guard";
}  // namespace step

/// Where live progress goes (the CLI prints it; tests record it).
class Progress {
public:
  virtual ~Progress() = default;
  virtual void step_started(const core::Step& s, size_t number, size_t total) = 0;
  virtual void step_ended(const core::Step& s, const core::StepTiming& t) = 0;
  /// upgrade.php moved on to another component.
  virtual void upgrade_component(double seconds, const std::string& component) = 0;
  /// A line worth telling the operator (e.g. a target extracted).
  virtual void note(const std::string& line) = 0;
};

struct TargetRelease;

/// What only `init` needs, never journaled: the secrets and the files it writes.
struct InitInputs {
  const TargetRelease* release = nullptr;  // --git or --image: extracted by the step extract-code
  Secret admin_password;
  Secret db_password;
  std::string config_file;   // where the site's YAML goes
  std::string config_text;
  std::string fullname, shortname;  // the new Moodle site's names
};

struct AdoptInputs;  // mupgrade/ops/adopt.hpp

/// What the steps of an operation share. In a rehearsal, `green` is the clone; in a rollback
/// traffic goes from `green` (live) back to `blue` (the rollback target).
struct StepContext {
  std::string operation = "cutover";  // cutover | rehearse | rollback | init | up (green: the live set, blue: the rollback target)
  std::string blue;
  std::string green;
  std::string target_code;
  bool remove_failed_green = false;  // rehearse: true unless --keep
  long writes_left_behind = 0;       // rollback: green's writes since the cutover, as last counted
  bool discard_writes = false;       // rollback --discard-writes: leave them behind on green
  /// The last rehearsal proved the checks and pages: the health check comes after the switch
  /// (green-first-page). Journaled: a resume after the switch still renders and judges the page.
  bool first_page_after_switch = false;
  // Filled while running.
  nlohmann::json watermark = nlohmann::json::object();
  nlohmann::json facts = nlohmann::json::object();  // for the report: freeze, upgrade, smoke...
  Progress* progress = nullptr;
  const InitInputs* init = nullptr;  // init and adopt (its first set is `green`, its code `target_code`)
  const AdoptInputs* adopt = nullptr;  // adopt only

  bool rehearsal() const { return operation == "rehearse"; }
  /// Something the operator should know that does not stop the operation: told now, and kept
  /// for the rehearsal report (facts["warnings"]).
  void warn(const std::string& text) {
    facts["warnings"].push_back(text);
    if (progress) progress->note("warning: " + text);
  }
  nlohmann::json to_json() const;
  static StepContext from_json(const nlohmann::json& j);
};
using CutoverContext = StepContext;

/// One built-in step, declared once: where it may run, the rules any playbook must keep,
/// what it does, how it is undone and what that undo needs (what `run` remembered).
struct StepDef {
  std::string name;
  core::Phase phase = core::Phase::prepare;
  std::vector<std::string> operations;  // cutover, rehearse, rollback
  bool required = false;                // a playbook may not leave it out
  std::vector<std::string> after;       // steps that, when present, must come before it
  bool point_of_no_return = false;      // traffic moved: no automatic undo past it
  bool restores_service = false;        // its undo gives users the site back: undone first
  bool verifies_switch = false;         // checks what the switch made live: its failure undoes the switch too
  std::string what;                     // for plan output
  std::string what_in_rehearsal;        // when a rehearsal does it differently ("" = same)
  std::string undo_what;
  /// Whether the step applies to this site (e.g. relax-durability only when configured).
  std::function<bool(const core::SiteConfig&)> applies;
  std::function<nlohmann::json(Site&, StepContext&, core::StepRun&)> run;
  std::function<void(Site&, StepContext&, const nlohmann::json& undo_data)> undo;
};

/// The table: every built-in step of every operation.
const std::vector<StepDef>& step_table();
/// Parts of the table, one file each under src/ops/steps/.
void add_prepare_steps(std::vector<StepDef>& table);
void add_window_steps(std::vector<StepDef>& table);
void add_after_steps(std::vector<StepDef>& table);
void add_rollback_steps(std::vector<StepDef>& table);
void add_init_steps(std::vector<StepDef>& table);
void add_up_steps(std::vector<StepDef>& table);
void add_adopt_steps(std::vector<StepDef>& table);
/// The order `adopt --from` runs its steps in.
const std::vector<std::string>& adopt_step_names();

/// The rules a playbook of `operation` must keep, from the table.
core::StepRules rules_for(const std::string& operation);

/// The steps of `ctx.operation`, as the site's playbook orders them, with the site's own steps.
std::vector<core::Step> compose_steps(Site& site, StepContext& ctx);
/// Every step of `ctx.operation` in the table's order, for operations without a playbook (init).
std::vector<core::Step> table_steps(Site& site, StepContext& ctx);
/// The steps named in a journal (what ran), bound to `ctx`; throws naming a step the table
/// and the site config no longer know.
std::vector<core::Step> steps_by_name(Site& site, StepContext& ctx, const std::vector<std::string>& names);

/// Stops and removes a clone: containers, network, subvolumes.
void remove_clone(Site& site, const std::string& clone);

}  // namespace mupgrade::ops
