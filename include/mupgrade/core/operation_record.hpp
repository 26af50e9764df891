#pragma once
// What one operation (cutover, rollback, rehearse) did, as an admin's tools see it: the
// Prometheus textfile of cutover and rollback, the one-line syslog summary of every operation,
// and the `--json` result. Pure: rendering and parsing only, the writing is a port's.

#include <nlohmann/json.hpp>
#include <string>

namespace mupgrade::core {

/// The `version` field of every `--json` result: bumped when a field changes meaning or goes.
inline constexpr int kJsonResultVersion = 1;

struct OperationRecord {
  std::string operation;     // cutover | rollback | rehearse | resume
  std::string site;
  bool ok = false;
  std::string failed_step;   // empty when ok; "preflight" when refused before any change
  double started_epoch = 0;  // seconds since 1970
  double duration_s = 0;     // whole command
  double window_s = 0;       // maintenance on to traffic on the new set (0 when not reached)
  double upgrade_s = 0;      // upgrade.php (0 for rollback)
  std::string from_set, to_set;
  bool switched = false;     // traffic reached to_set
  bool rollback_target_present = false;  // after the operation, a set to roll back to is kept
  std::string journal;       // where the full log is

  /// The window without upgrade.php: what mupgrade itself costs.
  double overhead_s() const { return window_s > upgrade_s ? window_s - upgrade_s : 0; }
  nlohmann::json to_json() const;
};

/// Where an operation's textfile goes: beside the rehearsal's (`rehearse.prometheus_textfile`),
/// its stem suffixed with the operation: .../mupgrade.prom -> .../mupgrade-cutover.prom.
std::string operation_textfile(const std::string& rehearsal_textfile, const std::string& operation);

/// node_exporter textfile of a cutover or rollback (names: mupgrade_<operation>_*; base units,
/// `_seconds`, `_timestamp_seconds`). `last_success_epoch` is 0 when none succeeded yet.
std::string render_operation_metrics(const OperationRecord& r, double last_success_epoch);

/// The last-success timestamp a previous textfile of `operation` holds (0 when none).
double last_success_in_textfile(const std::string& text, const std::string& operation);

/// One line for syslog: operation, site, verdict, sets and seconds, the journal's path.
/// Never the error text (it may quote a command or a server's answer): the journal has it.
std::string summary_line(const OperationRecord& r);

/// A Prometheus label value with \, " and newlines escaped.
std::string escape_label_value(const std::string& v);

}  // namespace mupgrade::core
