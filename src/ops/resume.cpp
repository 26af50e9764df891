// `mupgrade cutover --resume`: finishes or undoes an operation a crash interrupted, from its
// journal: the steps it recorded (not a list rebuilt from today's config) and the undo data
// they journaled. Before the switch its begun steps are undone, service first; after the
// switch the remaining steps run. Holds the site lock: never under a running operation.

#include "mupgrade/ops/operations.hpp"
#include "preflight.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

#include <ostream>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

std::vector<std::string> recorded_steps(const core::JournalSummary& j) {
  std::vector<std::string> names;
  if (j.args.contains("steps"))
    for (const auto& n : j.args["steps"]) names.push_back(n.get<std::string>());
  else  // a journal written before the step list was recorded: what began, in order
    for (const auto& s : j.steps) names.push_back(s.name);
  return names;
}

}  // namespace

Outcome resume_locked(Site& site, bool dry_run, Progress& progress, std::ostream& out) {
  Outcome o;
  o.operation = "resume";
  std::string last = site.last_journal_path();
  if (last.empty() || !core::read_state_file(last)) {
    out << "nothing to resume: no operation was interrupted.\n";
    o.ok = true;
    return o;
  }
  auto j = core::read_journal(last);
  if (!unfinished(j)) {
    out << fmt::format("nothing to resume: the last operation ({}) finished ({}).\n", j.operation, j.outcome);
    o.ok = true;
    return o;
  }
  o.operation = j.operation;
  o.journal = last;
  StepContext ctx = StepContext::from_json(j.args);
  ctx.operation = j.operation;
  ctx.progress = &progress;
  o.blue = ctx.blue;
  o.green = ctx.green;
  auto steps = steps_by_name(site, ctx, recorded_steps(j));
  const auto* sw = j.find(step::switch_proxy);
  bool switched = sw && sw->ended && sw->outcome == "ok" && !sw->undone;
  // A rollback killed in its switch had passed its write guard: traffic may be on blue already,
  // which takes writes, and undoing would put blue back in maintenance under its own traffic.
  // Going on to blue is what the admin asked for, so the switch is finished, not undone.
  bool finish_switch = !switched && j.operation == "rollback" && sw && sw->begun && !sw->ended;
  auto interrupted = j.interrupted_step().value_or("(between steps)");
  out << fmt::format("{} {} interrupted at step '{}' (journal {})\n", dry_run ? "would resume" : "resuming", j.operation, interrupted, last);

  if (switched || finish_switch) {
    // Traffic already moved (or is moving): finish the steps from the switch on that did not end well.
    if (sw->facts.contains("watermark")) ctx.watermark = sw->facts["watermark"];
    std::vector<const core::Step*> todo;
    bool after = false;
    for (const auto& s : steps) {
      const auto* rec = j.find(s.name);
      if ((after || (finish_switch && s.name == step::switch_proxy)) && !(rec && rec->ended && rec->outcome == "ok")) todo.push_back(&s);
      after = after || s.name == step::switch_proxy;
    }
    for (const auto* s : todo) out << (dry_run ? "  would finish " : "  finishing ") << s->name << "\n";
    if (dry_run) {
      o.ok = true;
      return o;
    }
    core::JournalWriter journal(last);
    // A failure here (blue does not answer the switch's confirmation) leaves the journal
    // unfinished: the next `rollback` tries again once the cause is fixed.
    for (const auto* s : todo) {
      journal.append({"begin", s->name});
      core::StepRun run(&journal, s->name);
      json facts = s->run ? s->run(run) : json::object();
      journal.append({"end", s->name, "ok", 0, facts});
    }
    journal.append({"operation-end", "", "ok", 0, {{"resumed", true}}});
    out << fmt::format("{} finished: {} before the crash.\n", j.operation, switched ? "the switch had happened" : "its switch had begun");
    o.ok = true;
    o.switched = true;
    return o;
  }
  // Before the switch: undo what began and is not undone yet (undos are idempotent).
  std::vector<core::BegunStep> begun;
  for (const auto& s : steps)
    if (const auto* rec = j.find(s.name); rec && rec->begun && !rec->undone) begun.push_back({&s, rec->undo_data});
  for (const auto& b : begun) out << (dry_run ? "  would undo " : "  undo ") << b.step->name << (b.step->undo_what.empty() ? "" : ": " + b.step->undo_what) << "\n";
  if (dry_run) {
    o.ok = true;
    return o;
  }
  core::JournalWriter journal(last);
  core::Executor ex(journal);
  std::vector<core::StepTiming> timings;
  o.undo_failures = ex.undo(begun, timings);
  journal.append({"operation-end", "", o.undo_failures.empty() ? "failed" : "undo-failed", 0, {{"resumed", true}}});
  o.ok = o.undo_failures.empty();
  if (!o.ok) {
    o.failed_step = "undo";
    o.error = fmt::format("{} undo(s) failed: {}", o.undo_failures.size(), o.undo_failures.front());
    o.hint = "fix the cause and run 'mupgrade cutover --resume' again: the journal keeps what is left to undo";
    return o;
  }
  // The set that was live before the operation: a cutover's blue, a rollback's green.
  const std::string& was_live = j.operation == "rollback" ? ctx.green : ctx.blue;
  if (j.operation != "rehearse") o.blue_serving = site.serves_publicly(was_live, &o.serving_detail);
  out << fmt::format("{} undone: the site is back as it was before it{}.\n", j.operation,
                     j.operation == "rehearse" || o.blue_serving ? "" : fmt::format(" (but the public URL answers {})", o.serving_detail));
  return o;
}

Outcome resume(Site& site, bool dry_run, Progress& progress, std::ostream& out) {
  const auto& cfg = site.config();
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade cutover --resume");
  double started = epoch_seconds_now();
  auto o = resume_locked(site, dry_run, progress, out);
  if (!dry_run && !o.journal.empty()) {
    // Told as a resume of its operation (syslog only): the textfile keeps the interrupted run's verdict.
    o.record = record_of(site, o, started);
    o.record->operation = "resume-" + o.operation;
    report_outcome(site, *o.record, progress);
  }
  return o;
}

}  // namespace mupgrade::ops
