#pragma once
// Runs a plan: each step journaled before and after, timed; a failure undoes the steps
// already done, newest first, as far as they can be undone, and says what it left.

#include "mupgrade/core/journal.hpp"

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::core {

enum class Phase { prepare, window, after };
std::string_view to_string(Phase p);

class JournalWriter;

/// Handed to a running step: journals (fsync'd) what its undo will need, before the change
/// it protects, so an undo in a later process (after kill -9) has it too.
class StepRun {
public:
  StepRun(JournalWriter* journal, std::string step) : journal_(journal), step_(std::move(step)) {}
  void remember(const nlohmann::json& undo_data);
  const nlohmann::json& undo_data() const { return data_; }

private:
  JournalWriter* journal_;
  std::string step_;
  nlohmann::json data_ = nlohmann::json::object();
};

/// One step of a plan. `run` may return facts to journal; `undo` (given what `run`
/// remembered) is empty for steps that change nothing (checks) or that an earlier step's
/// undo covers. Undos are idempotent: they may run after a step that only half happened.
struct Step {
  std::string name;
  Phase phase = Phase::prepare;
  std::string what;       // one line for plan output: what the step does
  std::string undo_what;  // one line: how it is undone ("" = nothing to undo)
  std::function<nlohmann::json(StepRun&)> run;
  std::function<void(const nlohmann::json& undo_data)> undo;
  /// Past this step the executor no longer undoes on failure (e.g. traffic moved to green):
  /// a failure after it is reported, and the operator decides (rollback).
  bool point_of_no_return = false;
  /// A check of what the switch made live, run once users are on it: its failure undoes the
  /// whole operation, the switch included (the switch's own undo refuses over users' writes).
  bool verifies_switch = false;
  /// Its undo gives users their site back (maintenance off, cron on): such undos run before
  /// every other one, so stopping green never holds the site in maintenance.
  bool restores_service = false;
};

/// A step already begun, to undo with the data it remembered.
struct BegunStep {
  const Step* step = nullptr;
  nlohmann::json undo_data = nlohmann::json::object();
};

struct StepTiming {
  std::string name;
  Phase phase = Phase::prepare;
  double seconds = 0;
  std::string outcome;  // ok | failed | undone | skipped
};

struct RunResult {
  bool ok = false;
  std::string failed_step;
  std::string error;
  std::string hint;  // the failed step's Error hint, for the user
  std::vector<StepTiming> timings;
  std::vector<std::string> undo_failures;  // steps whose undo failed: the operator must look
  double window_seconds = 0;  // first window step's start to the last window step's end
};

/// Monotonic seconds; a fake in tests.
using SecondsClock = std::function<double()>;
SecondsClock steady_seconds();

class Executor {
public:
  Executor(JournalWriter& journal, SecondsClock clock = steady_seconds());
  /// Called before each step starts and after it ends (for live progress lines).
  std::function<void(const Step&, const StepTiming*)> on_step;

  /// Journals operation-begin with `operation` and `args`, runs the steps, journals operation-end.
  RunResult run(const std::string& operation, const nlohmann::json& args, const std::vector<Step>& steps);
  /// Runs the undo of `done` steps, journaling each: those that restore service first, then
  /// the others, newest first within each group; returns the ones that failed.
  std::vector<std::string> undo(const std::vector<BegunStep>& done, std::vector<StepTiming>& timings);

private:
  JournalWriter& journal_;
  SecondsClock clock_;
};

/// The numbered list of steps that `plan` and `--dry-run` print: the plan the executor runs.
std::string render_plan(const std::vector<Step>& steps);

/// The timing table printed at the end of an operation.
std::string render_timings(const std::vector<StepTiming>& timings, double window_seconds);
nlohmann::json timings_to_json(const std::vector<StepTiming>& timings);
std::vector<StepTiming> timings_from_json(const nlohmann::json& steps);

}  // namespace mupgrade::core
