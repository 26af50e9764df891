#pragma once
// Moodle's version numbers and version.php files, read without running PHP.

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mupgrade::core {

/// A Moodle version such as 2022112810.00 (YYYYMMDDRR.XX). The DB stores 2022112810.00 as
/// 2022112810, so the fraction is kept as two digits and compared as a number.
struct MoodleVersion {
  std::int64_t major = 0;  // YYYYMMDDRR
  int fraction = 0;        // XX, 0..99

  /// Parses "2022112810", "2022112810.00", "2022112810.5" (= .50). Returns nullopt on anything else.
  static std::optional<MoodleVersion> parse(std::string_view text);
  std::string str() const;  // always with two fraction digits
  auto operator<=>(const MoodleVersion&) const = default;
};

/// Moodle's maturity constants.
enum class Maturity { unknown, alpha, beta, rc, stable };
std::string_view to_string(Maturity m);

/// What a version.php says. Fields that are absent or not literal stay empty;
/// `unparseable` names the first assignment that held a non-literal expression.
struct VersionFile {
  std::optional<MoodleVersion> version;  // $version or $plugin->version
  std::string release;                   // $release
  std::string branch;                    // $branch
  Maturity maturity = Maturity::unknown;  // $maturity / $plugin->maturity
  std::string component;                 // $plugin->component
  std::optional<MoodleVersion> requires_version;  // $plugin->requires
  std::string unparseable;

  bool is_plugin() const { return !component.empty(); }
};

/// Parses the text of a core or plugin version.php: comments are skipped and only literal
/// assignments are read, whatever their spacing and quoting.
VersionFile parse_version_php(std::string_view php);

/// A literal `$CFG-><name> = '...';` of a config.php (the last one wins, as in PHP); nullopt
/// when config.php does not set it to a literal. Comments and CRLF line ends are skipped.
std::optional<std::string> config_php_setting(std::string_view php, std::string_view name);

}  // namespace mupgrade::core

namespace mupgrade::core {

/// The PHP versions a Moodle branch accepts ("401" -> 7.4..8.1), from Moodle's release notes.
struct PhpRange {
  std::string min, max;
};
std::optional<PhpRange> php_range_for_branch(std::string_view branch);
/// "8.2" within [min, max], compared as major.minor numbers.
bool php_in_range(std::string_view php, const PhpRange& range);

}  // namespace mupgrade::core
