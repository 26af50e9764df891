// `mupgrade cutover --resume`: finishes or undoes an operation a crash interrupted, from its
// journal: before the switch its begun steps are undone, newest first; after the switch the
// remaining steps run.

#include "mupgrade/ops/operations.hpp"
#include "mupgrade/ops/plans.hpp"

#include <fmt/format.h>

#include <filesystem>
#include <ostream>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using core::Step;
using nlohmann::json;

int resume(Site& site, std::ostream& out) {
  std::string last = site.last_journal_path();
  if (last.empty() || !fs::exists(last)) {
    out << "nothing to resume: no operation was interrupted.\n";
    return 0;
  }
  auto j = core::read_journal(last);
  if (j.finished) {
    out << fmt::format("nothing to resume: the last operation ({}) finished ({}).\n", j.operation, j.outcome);
    return 0;
  }
  auto interrupted = j.interrupted_step().value_or("(between steps)");
  out << fmt::format("resuming {} interrupted at step '{}' (journal {})\n", j.operation, interrupted, last);
  core::JournalWriter journal(last);
  core::Executor ex(journal);
  std::vector<core::StepTiming> timings;
  CutoverContext ctx = CutoverContext::from_json(j.args);
  ctx.out = &out;
  std::vector<Step> steps = j.operation == "cutover" ? cutover_steps(site, ctx)
                                                     : rollback_steps(site, j.args.value("from", ""), j.args.value("to", ""));
  const auto* sw = j.find("switch-proxy");
  bool switched = sw && sw->ended && sw->outcome == "ok";
  if (switched) {
    // Traffic already moved: finish the steps after the switch that did not end well.
    if (sw->facts.contains("watermark")) ctx.watermark = sw->facts["watermark"];
    bool after = false;
    for (const auto& s : steps) {
      if (after) {
        const auto* rec = j.find(s.name);
        if (rec && rec->ended && rec->outcome == "ok") continue;
        journal.append({"begin", s.name});
        json facts = s.run();
        journal.append({"end", s.name, "ok", 0, facts});
        out << "  finished " << s.name << "\n";
      }
      after = after || s.name == "switch-proxy";
    }
    journal.append({"operation-end", "", "ok", 0});
    out << fmt::format("{} finished: the switch had happened before the crash.\n", j.operation);
    return 0;
  }
  // Before the switch: undo what began, newest first (undos are idempotent).
  std::vector<const Step*> begun;
  for (const auto& s : steps)
    if (const auto* rec = j.find(s.name); rec && rec->begun && !rec->undone) begun.push_back(&s);
  auto failures = ex.undo(begun, timings);
  journal.append({"operation-end", "", failures.empty() ? "failed" : "undo-failed", 0, {{"resumed", true}}});
  for (const auto& f : failures) out << "  undo failed: " << f << "\n";
  out << fmt::format("{} undone: the site is back as it was before it ({}).\n", j.operation,
                     failures.empty() ? "clean" : "with the failures above");
  return failures.empty() ? 0 : 1;
}

}  // namespace mupgrade::ops
