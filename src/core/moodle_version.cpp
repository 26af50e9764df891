#include "mupgrade/core/moodle_version.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <vector>

namespace mupgrade::core {

std::optional<MoodleVersion> MoodleVersion::parse(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  if (text.empty() || text.size() > 24) return std::nullopt;
  MoodleVersion v;
  size_t i = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i) v.major = v.major * 10 + (text[i] - '0');
  if (i == 0) return std::nullopt;
  if (i == text.size()) return v;
  if (text[i] != '.') return std::nullopt;
  std::string_view frac = text.substr(i + 1);
  if (frac.empty() || frac.size() > 2) {
    // More than two digits only when the extra ones are zeros ("10.000").
    if (frac.size() <= 2) return std::nullopt;
    for (size_t k = 2; k < frac.size(); ++k)
      if (frac[k] != '0') return std::nullopt;
    frac = frac.substr(0, 2);
  }
  for (char c : frac)
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  v.fraction = (frac[0] - '0') * 10 + (frac.size() > 1 ? frac[1] - '0' : 0);
  return v;
}

std::string MoodleVersion::str() const { return fmt::format("{}.{:02}", major, fraction); }

std::string_view to_string(Maturity m) {
  switch (m) {
    case Maturity::alpha: return "alpha";
    case Maturity::beta: return "beta";
    case Maturity::rc: return "rc";
    case Maturity::stable: return "stable";
    case Maturity::unknown: break;
  }
  return "unknown";
}

namespace {

// Splits PHP source into statements, dropping comments and the opening tag; string
// literals are kept intact so a ';' or '//' inside quotes does not cut a statement.
std::vector<std::string> statements(std::string_view php) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < php.size(); ++i) {
    char c = php[i];
    char next = i + 1 < php.size() ? php[i + 1] : '\0';
    if (c == '/' && next == '/') {
      while (i < php.size() && php[i] != '\n') ++i;
    } else if (c == '#') {
      while (i < php.size() && php[i] != '\n') ++i;
    } else if (c == '/' && next == '*') {
      size_t end = php.find("*/", i + 2);
      i = end == std::string_view::npos ? php.size() : end + 1;
      cur += ' ';
    } else if (c == '\'' || c == '"') {
      cur += c;
      for (++i; i < php.size() && php[i] != c; ++i) {
        if (php[i] == '\\' && i + 1 < php.size()) cur += php[i++];
        cur += php[i];
      }
      if (i < php.size()) cur += c;
    } else if (c == ';') {
      out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(cur);
  return out;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// A literal value: a quoted string (unescaped), a number, or a MATURITY_* constant.
std::optional<std::string> literal(const std::string& expr) {
  if (expr.size() >= 2 && (expr.front() == '\'' || expr.front() == '"') && expr.back() == expr.front()) {
    std::string out;
    for (size_t i = 1; i + 1 < expr.size(); ++i) {
      if (expr[i] == '\\' && i + 2 < expr.size()) ++i;
      else if (expr[i] == expr.front()) return std::nullopt;  // concatenation like 'a' . 'b'
      out += expr[i];
    }
    return out;
  }
  if (expr.rfind("MATURITY_", 0) == 0) return expr;
  if (MoodleVersion::parse(expr)) return expr;
  return std::nullopt;
}

Maturity maturity_of(const std::string& value) {
  if (value == "MATURITY_ALPHA" || value == "50") return Maturity::alpha;
  if (value == "MATURITY_BETA" || value == "100") return Maturity::beta;
  if (value == "MATURITY_RC" || value == "150") return Maturity::rc;
  if (value == "MATURITY_STABLE" || value == "200") return Maturity::stable;
  return Maturity::unknown;
}

// Removes the '$plugin->' / '$module->' prefix, or the '$' of a core variable.
std::string variable_name(const std::string& lhs, bool& is_plugin_field) {
  for (std::string_view prefix : {"$plugin->", "$module->"}) {
    if (lhs.rfind(prefix, 0) == 0) {
      is_plugin_field = true;
      return trim(lhs.substr(prefix.size()));
    }
  }
  is_plugin_field = false;
  return lhs.rfind('$', 0) == 0 ? trim(lhs.substr(1)) : std::string{};
}

}  // namespace

VersionFile parse_version_php(std::string_view php) {
  VersionFile vf;
  for (const std::string& raw : statements(php)) {
    std::string stmt = trim(raw);
    if (stmt.rfind("<?php", 0) == 0) stmt = trim(std::string_view(stmt).substr(5));
    size_t eq = stmt.find('=');
    if (stmt.empty() || stmt.front() != '$' || eq == std::string::npos || eq + 1 >= stmt.size() || stmt[eq + 1] == '=') continue;
    bool plugin_field = false;
    std::string name = variable_name(trim(std::string_view(stmt).substr(0, eq)), plugin_field);
    std::string expr = trim(std::string_view(stmt).substr(eq + 1));
    bool known = name == "version" || name == "release" || name == "branch" || name == "maturity" ||
                 (plugin_field && (name == "component" || name == "requires"));
    if (!known) continue;
    std::optional<std::string> value = literal(expr);
    if (!value) {
      if (vf.unparseable.empty()) vf.unparseable = plugin_field ? "$plugin->" + name : "$" + name;
      continue;
    }
    if (name == "version") vf.version = MoodleVersion::parse(*value);
    else if (name == "release") vf.release = *value;
    else if (name == "branch") vf.branch = *value;
    else if (name == "maturity") vf.maturity = maturity_of(*value);
    else if (name == "component") vf.component = *value;
    else if (name == "requires") vf.requires_version = MoodleVersion::parse(*value);
    if (name == "version" && !vf.version && vf.unparseable.empty()) vf.unparseable = "$version";
  }
  return vf;
}

std::optional<std::string> config_php_setting(std::string_view php, std::string_view name) {
  std::optional<std::string> value;
  const std::string lhs = "$CFG->" + std::string(name);
  for (const std::string& raw : statements(php)) {
    std::string stmt = trim(raw);
    // "<?php  // Moodle configuration file\n\nunset($CFG);...": the tag may lead the first statement.
    if (stmt.rfind("<?php", 0) == 0) stmt = trim(std::string_view(stmt).substr(5));
    size_t eq = stmt.find('=');
    if (eq == std::string::npos || eq + 1 >= stmt.size() || stmt[eq + 1] == '=') continue;
    if (trim(std::string_view(stmt).substr(0, eq)) != lhs) continue;
    auto v = literal(trim(std::string_view(stmt).substr(eq + 1)));
    if (v) value = *v;  // the last assignment wins, as in PHP
  }
  return value;
}

}  // namespace mupgrade::core

namespace mupgrade::core {

std::optional<PhpRange> php_range_for_branch(std::string_view branch) {
  static const std::pair<std::string_view, PhpRange> table[] = {
      {"401", {"7.4", "8.1"}}, {"402", {"8.0", "8.2"}}, {"403", {"8.0", "8.2"}}, {"404", {"8.1", "8.3"}},
      {"405", {"8.1", "8.3"}}, {"500", {"8.2", "8.4"}}, {"501", {"8.2", "8.4"}}};
  for (const auto& [b, r] : table)
    if (b == branch) return r;
  return std::nullopt;
}

bool php_in_range(std::string_view php, const PhpRange& range) {
  auto num = [](std::string_view v) {
    auto dot = v.find('.');
    int major = std::atoi(std::string(v.substr(0, dot)).c_str());
    int minor = dot == std::string_view::npos ? 0 : std::atoi(std::string(v.substr(dot + 1)).c_str());
    return major * 100 + minor;
  };
  return num(php) >= num(range.min) && num(php) <= num(range.max);
}

}  // namespace mupgrade::core
