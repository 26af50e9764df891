#include "mupgrade/core/operation_record.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <sstream>

namespace mupgrade::core {

nlohmann::json OperationRecord::to_json() const {
  return {{"operation", operation},
          {"site", site},
          {"ok", ok},
          {"failed_step", failed_step},
          {"started_epoch", started_epoch},
          {"duration_s", duration_s},
          {"window_s", window_s},
          {"upgrade_s", upgrade_s},
          {"overhead_s", overhead_s()},
          {"from_set", from_set},
          {"to_set", to_set},
          {"switched", switched},
          {"rollback_target_present", rollback_target_present},
          {"journal", journal}};
}

std::string operation_textfile(const std::string& rehearsal_textfile, const std::string& operation) {
  auto slash = rehearsal_textfile.rfind('/');
  std::string dir = slash == std::string::npos ? "" : rehearsal_textfile.substr(0, slash + 1);
  std::string name = rehearsal_textfile.substr(dir.size());
  auto dot = name.rfind(".prom");
  std::string stem = dot != std::string::npos && dot + 5 == name.size() ? name.substr(0, dot) : name;
  return fmt::format("{}{}-{}.prom", dir, stem, operation);
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_operation_metrics(const OperationRecord& r, double last_success_epoch) {
  std::string out;
  std::string labels = fmt::format("site=\"{}\"", escape_label_value(r.site));
  auto metric = [&](const std::string& suffix, const std::string& help, double value, const std::string& extra = "") {
    std::string name = fmt::format("mupgrade_{}_{}", r.operation, suffix);
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{}{{{}{}}} {}\n", name, help, name, name, labels, extra, value);
  };
  const std::string& op = r.operation;
  metric("last_run_timestamp_seconds", fmt::format("Start of the last {} (Unix time).", op), r.started_epoch);
  metric("success", fmt::format("1 when the last {} succeeded, else 0; failed_step names where it stopped.", op), r.ok ? 1 : 0,
         fmt::format(",failed_step=\"{}\"", escape_label_value(r.failed_step)));
  metric("last_success_timestamp_seconds", fmt::format("Start of the last {} that succeeded (0 = none).", op), last_success_epoch);
  metric("duration_seconds", fmt::format("The whole last {} command.", op), r.duration_s);
  metric("window_seconds", fmt::format("Window of the last {}: maintenance on to traffic on the new set (0 = not reached).", op), r.window_s);
  metric("upgrade_seconds", fmt::format("upgrade.php in the last {} (0 = none).", op), r.upgrade_s);
  metric("overhead_seconds", fmt::format("The last {}'s window minus upgrade.php: what mupgrade costs.", op), r.overhead_s());
  metric("switched", fmt::format("1 when the last {} moved traffic to the new set.", op), r.switched ? 1 : 0);
  metric("rollback_target_present", fmt::format("1 when a set to roll back to is kept after the last {}.", op), r.rollback_target_present ? 1 : 0);
  return out;
}

double last_success_in_textfile(const std::string& text, const std::string& operation) {
  std::string name = fmt::format("mupgrade_{}_last_success_timestamp_seconds{{", operation);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name, 0) != 0) continue;
    auto close = line.rfind('}');
    if (close == std::string::npos) continue;
    const char* value = line.c_str() + close + 1;
    char* end = nullptr;
    double v = std::strtod(value, &end);
    if (end != value) return v;
  }
  return 0;
}

std::string summary_line(const OperationRecord& r) {
  std::string line = fmt::format("{} site={} {}", r.operation, r.site, r.ok ? "ok" : "FAILED");
  if (!r.ok) line += fmt::format(" step={}", r.failed_step.empty() ? "?" : r.failed_step);
  if (!r.from_set.empty() || !r.to_set.empty()) line += fmt::format(" from={} to={}", r.from_set, r.to_set);
  if (r.switched) line += " switched";
  if (r.window_s > 0) line += fmt::format(" window={:.2f}s upgrade={:.2f}s overhead={:.2f}s", r.window_s, r.upgrade_s, r.overhead_s());
  line += fmt::format(" duration={:.2f}s rollback_target={}", r.duration_s, r.rollback_target_present ? "yes" : "no");
  if (!r.journal.empty()) line += " journal=" + r.journal;
  return line;
}

}  // namespace mupgrade::core
