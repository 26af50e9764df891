#pragma once
// Reads what Moodle's CLI scripts print (pure functions, no I/O).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mupgrade::moodle {

/// Removes ANSI colour codes: Moodle prints them with or without a terminal.
std::string strip_ansi(std::string_view text);

/// "-->mod_forum" -> "mod_forum"; "-->System" -> "core". Nullopt for other lines.
std::optional<std::string> component_of_progress_line(std::string_view line);

/// "!!! message !!!" -> "message". Nullopt for other lines.
std::optional<std::string> error_of_line(std::string_view line);

/// What a finished upgrade.php run said about itself.
struct UpgradeSummary {
  bool completed = false;  // "Command line upgrade from X to Y completed successfully."
  std::string from_release;
  std::string to_release;
  std::string last_component;  // the last "-->" seen: where a failure happened
  std::string error;           // the first "!!! ... !!!" message
  bool environment_failed = false;  // "== Environment ==" followed by "!! ... !!"
  std::string environment_problems;
};

UpgradeSummary summarize_upgrade_output(std::string_view stdout_text);

/// One difference check_database_schema.php reported under a table's name:
/// {"user", "column 'degree' is not expected (C)"}.
struct SchemaDifference {
  std::string table;
  std::string what;
  /// In the DB but in no install.xml of the code: a column, index or table that a site's
  /// plugin or customisation added ("is not expected", "Unexpected index", "table is not
  /// expected"). Moodle's code never uses it. Anything else (missing, type, length, default,
  /// nullability) is something the code expects and the DB lacks.
  bool extra = false;
};

/// check_database_schema.php's report: separator lines of '-', a table name, then " * item"
/// lines. Empty when the text has no item in that form.
std::vector<SchemaDifference> parse_schema_differences(std::string_view stdout_text);

/// The differences of `after` that `before` did not have (same table and text): what an
/// upgrade introduced, the site's own drift left out.
std::vector<SchemaDifference> new_schema_differences(const std::vector<SchemaDifference>& before,
                                                     const std::vector<SchemaDifference>& after);

/// upgrade.php's plugin check: "Dependencies check failed for local_a, block_b" -> {local_a, block_b}.
std::vector<std::string> plugins_failing_dependencies(std::string_view output);

/// uninstall_plugins.php --show-missing: one "component<TAB>display name" line per plugin the DB
/// registers and the code tree lacks ("Missing from disk") -> the components.
std::vector<std::string> parse_missing_plugins(std::string_view output);

}  // namespace mupgrade::moodle
