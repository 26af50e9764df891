// How an operation ended, told to the admin's tools over the Reporting port: the Prometheus
// textfile of cutover and rollback (the rehearsal writes its own) and one syslog line for
// every operation. Neither can fail or change the operation's outcome.

#include "mupgrade/ops/operations.hpp"

#include <fmt/format.h>

#include <chrono>

namespace mupgrade::ops {

nlohmann::json Outcome::to_json() const {
  return {{"operation", operation},
          {"ok", ok},
          {"failed_step", failed_step},
          {"error", error},
          {"hint", hint},
          {"steps", core::timings_to_json(timings)},
          {"window_s", window_seconds},
          {"undo_failures", undo_failures},
          {"switched", switched},
          {"blue_serving", blue_serving},
          {"blue", blue},
          {"green", green},
          {"journal", journal},
          {"record", record ? record->to_json() : nlohmann::json(nullptr)}};
}

double epoch_seconds_now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

core::OperationRecord record_of(Site& site, const Outcome& o, double started_epoch) {
  core::OperationRecord r;
  r.operation = o.operation;
  r.site = site.config().site;
  r.ok = o.ok;
  r.failed_step = o.ok ? "" : o.failed_step;
  r.started_epoch = started_epoch;
  r.duration_s = epoch_seconds_now() - started_epoch;
  r.window_s = o.window_seconds;
  for (const auto& t : o.timings)
    if (t.name == step::upgrade) r.upgrade_s += t.seconds;
  // A rollback moves traffic from green (live) to blue; a cutover from blue to green.
  r.from_set = o.operation == "rollback" ? o.green : o.blue;
  r.to_set = o.operation == "rollback" ? o.blue : o.green;
  r.switched = o.operation == "rehearse" ? false : (o.operation == "rollback" ? o.ok : o.switched);
  if (auto st = site.state(); st && !st->rollback_set.empty()) r.rollback_target_present = site.set_exists(st->rollback_set);
  r.journal = o.journal;
  return r;
}

void report_outcome(Site& site, const core::OperationRecord& r, Progress& progress) {
  auto& reporting = site.ports().reporting;
  if (r.operation == "cutover" || r.operation == "rollback") {
    std::string path = core::operation_textfile(site.config().textfile(), r.operation);
    double last_success = r.ok ? r.started_epoch : 0;
    if (!r.ok)
      if (auto old = reporting.read_textfile(path)) last_success = core::last_success_in_textfile(*old, r.operation);
    if (auto err = reporting.write_textfile(path, core::render_operation_metrics(r, last_success)); !err.empty())
      progress.note(fmt::format("metrics not written ({}); the operation's outcome stands", err));
  }
  reporting.summary(core::summary_line(r), !r.ok);
}

}  // namespace mupgrade::ops
