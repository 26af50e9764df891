#include "mupgrade/core/executor.hpp"

#include "mupgrade/core/error.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <cstdlib>

namespace mupgrade::core {

std::string_view to_string(Phase p) {
  switch (p) {
    case Phase::prepare: return "prepare";
    case Phase::window: return "window";
    case Phase::after: return "after";
  }
  return "?";
}

SecondsClock steady_seconds() {
  return [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
}

void StepRun::remember(const nlohmann::json& undo_data) {
  for (auto& [k, v] : undo_data.items()) data_[k] = v;
  if (journal_) journal_->append({"undo-data", step_, "", 0, undo_data});
}

Executor::Executor(JournalWriter& journal, SecondsClock clock) : journal_(journal), clock_(std::move(clock)) {}

std::vector<std::string> Executor::undo(const std::vector<BegunStep>& done, std::vector<StepTiming>& timings) {
  std::vector<std::string> failures;
  std::vector<const BegunStep*> order;
  for (bool service : {true, false})
    for (auto it = done.rbegin(); it != done.rend(); ++it)
      if (it->step->restores_service == service) order.push_back(&*it);
  for (const BegunStep* b : order) {
    const Step& s = *b->step;
    if (!s.undo) continue;
    double t0 = clock_();
    journal_.append({"undo-begin", s.name});
    try {
      s.undo(b->undo_data);
      journal_.append({"undo-end", s.name, "ok", clock_() - t0});
      auto t = std::find_if(timings.begin(), timings.end(), [&](const StepTiming& x) { return x.name == s.name; });
      if (t != timings.end()) t->outcome = "undone";
    } catch (const std::exception& e) {
      journal_.append({"undo-end", s.name, "failed", clock_() - t0, {{"error", e.what()}}});
      failures.push_back(fmt::format("{}: {}", s.name, e.what()));
      // Later undos may rely on this one (stopping green while the proxy still sends it
      // traffic): they wait, journaled as not undone, for a resume.
      break;
    }
  }
  return failures;
}

RunResult Executor::run(const std::string& operation, const nlohmann::json& args, const std::vector<Step>& steps) {
  RunResult result;
  double op_start = clock_();
  journal_.append({"operation-begin", "", "", 0, {{"operation", operation}, {"args", args}}});
  std::vector<BegunStep> done;
  bool past_no_return = false;
  std::optional<double> window_start, window_end;
  for (const Step& s : steps) {
    if (on_step) on_step(s, nullptr);
    double t0 = clock_();
    if (s.phase == Phase::window && !window_start) window_start = t0;
    journal_.append({"begin", s.name});
    StepRun step_run(&journal_, s.name);
    try {
      nlohmann::json facts = s.run ? s.run(step_run) : nlohmann::json::object();
      double secs = clock_() - t0;
      journal_.append({"end", s.name, "ok", secs, facts.is_object() ? facts : nlohmann::json::object()});
      result.timings.push_back({s.name, s.phase, secs, "ok"});
      if (s.phase == Phase::window) window_end = clock_();
      if (on_step) on_step(s, &result.timings.back());
      done.push_back({&s, step_run.undo_data()});
      past_no_return = past_no_return || s.point_of_no_return;
      // Fault injection for the crash-recovery tests: die like kill -9 right after this step.
      if (const char* crash = std::getenv("MUPGRADE_CRASH_AFTER_STEP"); crash && s.name == crash) std::raise(SIGKILL);
    } catch (const std::exception& e) {
      double secs = clock_() - t0;
      journal_.append({"end", s.name, "failed", secs, {{"error", e.what()}}});
      result.timings.push_back({s.name, s.phase, secs, "failed"});
      if (on_step) on_step(s, &result.timings.back());
      result.failed_step = s.name;
      result.error = e.what();
      if (const auto* err = dynamic_cast<const Error*>(&e)) result.hint = err->hint();
      // The failed step may have half-happened: its own undo runs too (undos are idempotent).
      if (!past_no_return || s.verifies_switch) {
        done.push_back({&s, step_run.undo_data()});
        result.undo_failures = undo(done, result.timings);
        if (!result.timings.empty() && result.timings.back().name == s.name) result.timings.back().outcome = "failed";
      }
      break;
    }
  }
  result.ok = result.failed_step.empty();
  if (window_start && window_end) result.window_seconds = *window_end - *window_start;
  // undo-failed: something is left to undo, and the operation stays resumable.
  journal_.append({"operation-end", "", result.ok ? "ok" : result.undo_failures.empty() ? "failed" : "undo-failed", clock_() - op_start,
                   result.ok ? nlohmann::json::object() : nlohmann::json{{"failed_step", result.failed_step}, {"error", result.error}, {"hint", result.hint}}});
  return result;
}

std::string render_plan(const std::vector<Step>& steps) {
  std::string out;
  size_t i = 0;
  for (const auto& s : steps)
    out += fmt::format("  {:>2}. {:<7} {:<22} {}{}\n", ++i, to_string(s.phase), s.name, s.what,
                       s.undo_what.empty() ? "" : "  [undo: " + s.undo_what + "]");
  return out;
}

std::string render_timings(const std::vector<StepTiming>& timings, double window_seconds) {
  size_t width = 4;
  for (const auto& t : timings) width = std::max(width, t.name.size());
  std::string out = fmt::format("{:<{}}  {:<7}  {:>9}  {}\n", "step", width, "phase", "seconds", "outcome");
  for (const auto& t : timings)
    out += fmt::format("{:<{}}  {:<7}  {:>9.3f}  {}\n", t.name, width, to_string(t.phase), t.seconds, t.outcome);
  if (window_seconds > 0) out += fmt::format("{:<{}}  {:<7}  {:>9.3f}\n", "window (first to last window step)", width, "", window_seconds);
  return out;
}

nlohmann::json timings_to_json(const std::vector<StepTiming>& timings) {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : timings)
    arr.push_back({{"step", t.name}, {"phase", std::string(to_string(t.phase))}, {"seconds", t.seconds}, {"outcome", t.outcome}});
  return arr;
}

std::vector<StepTiming> timings_from_json(const nlohmann::json& steps) {
  std::vector<StepTiming> out;
  for (const auto& s : steps) {
    std::string ph = s.value("phase", "prepare");
    out.push_back({s.value("step", ""), ph == "window" ? Phase::window : ph == "after" ? Phase::after : Phase::prepare,
                   s.value("seconds", 0.0), s.value("outcome", "")});
  }
  return out;
}

}  // namespace mupgrade::core
