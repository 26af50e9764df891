#pragma once
// The user-facing operations, each a plan of journaled steps run under the site lock. They
// return typed outcomes; the CLI renders them (src/cli).

#include "mupgrade/core/check.hpp"
#include "mupgrade/core/executor.hpp"
#include "mupgrade/core/operation_record.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/core/rehearsal_report.hpp"
#include "mupgrade/core/retention.hpp"
#include "mupgrade/ops/plans.hpp"
#include "mupgrade/ops/site.hpp"

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::ops {

struct CutoverOptions {
  std::string target_code;   // overrides the config's target.code
  bool dry_run = false;      // print the plan, change nothing
  bool remove_failed_green = false;  // on failure, delete green instead of keeping it for diagnosis
};

struct RollbackOptions {
  bool discard_writes = false;  // roll back although green holds writes made since the cutover
  bool dry_run = false;
};

struct RehearseOptions {
  std::string target_code;  // overrides the config's target.code
  bool keep = false;        // keep the clone (stopped) instead of removing it
  bool dry_run = false;
};

struct PruneOptions {
  bool dry_run = false;
};

/// How an operation ended.
struct Outcome {
  std::string operation;
  bool ok = false;
  std::string failed_step;
  std::string error;
  std::string hint;
  std::vector<core::StepTiming> timings;
  double window_seconds = 0;
  std::vector<std::string> undo_failures;  // undos that failed: the operation stays resumable
  bool switched = false;                   // traffic reached green
  /// After a failure before the switch: whether blue was seen answering 200 through the
  /// public URL (only then does the tool say that it serves again).
  bool blue_serving = false;
  std::string serving_detail;
  std::string blue, green, journal;
  /// Filled once the operation ran (not for a dry run): what report_outcome told the admin's tools.
  std::optional<core::OperationRecord> record;
  /// The `--json` result of cutover, rollback and rehearse (the CLI adds version and command).
  nlohmann::json to_json() const;
  /// Takes what the executor reported: verdict, failed step, error, hint, timings, undo failures.
  void take(const core::RunResult& r) {
    ok = r.ok;
    failed_step = r.failed_step;
    error = r.error;
    hint = r.hint;
    timings = r.timings;
    window_seconds = r.window_seconds;
    undo_failures = r.undo_failures;
  }
};

/// What `mupgrade cron` did: ran cron.php on the live set, or skipped it and why.
struct CronOutcome {
  std::string set;      // the live set
  bool ran = false;
  std::string skipped;  // why it did not run (an operation holds the site, maintenance...)
  int exit_code = 0;    // cron.php's
  std::string error;
};
/// Moodle's admin/cli/cron.php in the live set's web container, its output to `out`; skipped
/// while an operation (other than a rehearsal) holds the site, after an interrupted one, and
/// while the live set is in maintenance. Never takes the site lock.
CronOutcome cron(Site& site, std::ostream& out);

/// Exit code 0 on success, 1 on failure; `out` gets the plan, progress and timings.
Outcome cutover(Site& site, const CutoverOptions& opts, Progress& progress, std::ostream& out);
Outcome rollback(Site& site, const RollbackOptions& opts, Progress& progress, std::ostream& out);
/// Finishes or undoes an operation interrupted by a crash, from its journal. Holds the lock.
Outcome resume(Site& site, bool dry_run, Progress& progress, std::ostream& out);
/// What `plan` found: every preflight check, the steps a cutover would run, the expected
/// window. Read-only; the CLI renders it as text or JSON.
struct PlanReport {
  struct PlannedStep {
    std::string name, phase, what, undo;
  };
  std::vector<core::CheckResult> checks;
  std::string live_set, live_release, db_server_version, target_release, target_version;
  std::optional<core::RehearsalReport> last_rehearsal;
  double rehearsal_age_h = 0;
  std::vector<PlannedStep> steps;
  std::optional<double> expected_window_s;
  std::string expected_window_source;  // which measurement it comes from
  bool ready() const { return core::all_passed(checks); }
  /// Throws the first failed check as a refusing cutover would (UsageError for the config's or
  /// the arguments' fault, exit 2; Error otherwise, exit 1).
  void require_ready() const;
  nlohmann::json to_json() const;
};
PlanReport plan(Site& site, const std::string& target_override);

/// One set as `status` sees it.
struct SetStatus {
  std::string id, release, role, created, web, db;
  bool maintenance = false;
};
/// The last operation, from its journal.
struct OperationStatus {
  std::string operation, started, journal, outcome;
  bool finished = false;
  std::vector<core::StepTiming> steps;  // outcome INTERRUPTED for a step begun but not ended
  std::vector<std::string> undone;      // steps whose undo ran
  std::string interrupted_step, interrupted_after;
  std::vector<std::string> left_to_undo;
  /// The commands that recover it, exactly as to type, when the operation names its own
  /// (adopt); empty: a cutover's ('mupgrade cutover --resume' or 'mupgrade rollback').
  std::vector<std::string> recovery;
};
/// The operation the journal at `path` records (`j`, as read from it).
OperationStatus operation_status(const std::string& path, const core::JournalSummary& j);
/// What `status` found; the CLI renders it as text or JSON.
struct StatusReport {
  /// false: the site has no config yet, only what an adoption left in its state dir before it
  /// wrote the config (`adoption`, `lock`; config_file is where adopt writes it).
  bool configured = true;
  std::string config_file;
  std::string site, public_url, live_set, live_release, rollback_set, since;
  std::string proxy_kind, proxy_backend;  // what the proxy's saved state names
  std::string serving;                    // the set the public URL answers from ("" = neither)
  std::string public_answer;              // what the public URL answered
  std::vector<SetStatus> sets;
  std::optional<OperationStatus> last_operation, last_rehearsal_run;
  std::optional<OperationStatus> adoption;  // an adoption that did not finish (its own journal)
  std::optional<core::RehearsalReport> last_rehearsal;
  std::optional<core::LockHolder> lock;
  nlohmann::json to_json() const;
};
StatusReport status(Site& site);
/// Upgrades an isolated clone of production; writes a report and the Prometheus textfile.
Outcome rehearse(Site& site, const RehearseOptions& opts, Progress& progress, std::ostream& out);
/// Removes old sets, clones and reports by the site's retention policy.
int prune(Site& site, const PruneOptions& opts, std::ostream& out);
/// The newest rehearsal report, if any.
std::optional<core::RehearsalReport> last_rehearsal(const core::SiteConfig& cfg);
/// Every rehearsal report file, newest first.
std::vector<std::string> rehearsal_report_files(const core::SiteConfig& cfg);

/// Registers an existing set as live (first use of mupgrade on a site).
int adopt(Site& site, const std::string& set, std::ostream& out);

/// Progress as text lines: "[ n/N] phase  step ... seconds outcome".
class TextProgress : public Progress {
public:
  explicit TextProgress(std::ostream& out) : out_(out) {}
  void step_started(const core::Step& s, size_t number, size_t total) override;
  void step_ended(const core::Step& s, const core::StepTiming& t) override;
  void upgrade_component(double seconds, const std::string& component) override;
  void note(const std::string& line) override;

private:
  std::ostream& out_;
  bool in_upgrade_ = false;  // lines printed under the step's line: its time goes on a line of its own
  bool in_step_ = false;
};

/// Seconds since 1970, now.
double epoch_seconds_now();
/// How `o`, begun at `started_epoch`, ended: for the textfile, the syslog line and `--json`.
core::OperationRecord record_of(Site& site, const Outcome& o, double started_epoch);
/// Tells the admin's tools over the Reporting port: the textfile of a cutover or rollback
/// (`rehearse.prometheus_textfile`'s dir, see core::operation_textfile) and one syslog line for
/// every operation. Never throws; a textfile that cannot be written is a progress note.
void report_outcome(Site& site, const core::OperationRecord& r, Progress& progress);

/// Runs `steps` under `journal` with progress; shared by cutover, rehearse and rollback.
/// `extra_args` (an object) joins the journal's record of the run's arguments.
core::RunResult run_steps(core::JournalWriter& journal, const StepContext& ctx, const std::vector<core::Step>& steps, Progress& progress,
                          const nlohmann::json& extra_args = nlohmann::json::object());

}  // namespace mupgrade::ops
