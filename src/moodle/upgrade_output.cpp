#include "mupgrade/moodle/upgrade_output.hpp"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace mupgrade::moodle {

std::string strip_ansi(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\x1b' && i + 1 < text.size() && text[i + 1] == '[') {
      i += 2;
      while (i < text.size() && !(text[i] >= '@' && text[i] <= '~')) ++i;
      continue;
    }
    out += text[i];
  }
  return out;
}

namespace {
std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return std::string(s);
}
}  // namespace

std::optional<std::string> component_of_progress_line(std::string_view line) {
  std::string l = trim(strip_ansi(line));
  if (l.rfind("-->", 0) != 0) return std::nullopt;
  std::string c = trim(std::string_view(l).substr(3));
  if (c == "System") return std::string("core");
  return c;
}

std::optional<std::string> error_of_line(std::string_view line) {
  std::string l = trim(strip_ansi(line));
  if (l.size() < 7 || l.rfind("!!!", 0) != 0 || l.substr(l.size() - 3) != "!!!") return std::nullopt;
  return trim(std::string_view(l).substr(3, l.size() - 6));
}

UpgradeSummary summarize_upgrade_output(std::string_view stdout_text) {
  UpgradeSummary s;
  std::istringstream in{strip_ansi(stdout_text)};
  std::string line;
  bool in_environment = false;
  const std::string prefix = "Command line upgrade from ", suffix = " completed successfully.";
  while (std::getline(in, line)) {
    line = trim(line);
    if (auto c = component_of_progress_line(line)) s.last_component = *c;
    if (auto e = error_of_line(line); e && s.error.empty()) s.error = *e;
    if (line == "== Environment ==") in_environment = true;
    if (in_environment && line.size() > 4 && line.rfind("!!", 0) == 0 && line.rfind("!!!", 0) != 0) {
      s.environment_failed = true;
      if (!s.environment_problems.empty()) s.environment_problems += "; ";
      s.environment_problems += trim(std::string_view(line).substr(2, line.size() - 4));
    }
    if (line.rfind(prefix, 0) == 0 && line.size() > prefix.size() + suffix.size() &&
        line.substr(line.size() - suffix.size()) == suffix) {
      std::string middle = line.substr(prefix.size(), line.size() - prefix.size() - suffix.size());
      auto to = middle.rfind(" to ");
      s.completed = true;
      if (to != std::string::npos) {
        s.from_release = middle.substr(0, to);
        s.to_release = middle.substr(to + 4);
      }
    }
  }
  return s;
}

std::vector<SchemaDifference> parse_schema_differences(std::string_view stdout_text) {
  std::vector<SchemaDifference> out;
  std::istringstream in{strip_ansi(stdout_text)};
  std::string line, table;
  while (std::getline(in, line)) {
    std::string l = trim(line);
    if (l.empty() || l.find_first_not_of('-') == std::string::npos) continue;
    if (l.rfind("* ", 0) == 0) {
      SchemaDifference d{table, trim(std::string_view(l).substr(2))};
      d.extra = d.what.find("is not expected") != std::string::npos || d.what.rfind("Unexpected index", 0) == 0;
      out.push_back(d);
    } else if (l.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos) {
      table = l;  // a table's name, without the prefix
    }
  }
  return out;
}

std::vector<SchemaDifference> new_schema_differences(const std::vector<SchemaDifference>& before,
                                                     const std::vector<SchemaDifference>& after) {
  std::vector<SchemaDifference> out;
  for (const auto& d : after) {
    bool seen = false;
    for (const auto& b : before) seen = seen || (b.table == d.table && b.what == d.what);
    if (!seen) out.push_back(d);
  }
  return out;
}

namespace {
bool is_component(std::string_view s) {
  auto us = s.find('_');
  if (us == std::string_view::npos || us == 0 || us + 1 == s.size()) return false;
  for (char c : s)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}
}  // namespace

std::vector<std::string> plugins_failing_dependencies(std::string_view output) {
  std::vector<std::string> out;
  std::string text = strip_ansi(output);
  const std::string key = "Dependencies check failed for ";
  for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + 1)) {
    std::string list = text.substr(at + key.size(), text.find('\n', at) - at - key.size());
    std::istringstream in(list);
    for (std::string item; std::getline(in, item, ',');) {
      item = trim(item);
      while (!item.empty() && (item.back() == '!' || item.back() == ' ' || item.back() == '\r')) item.pop_back();
      if (is_component(item) && std::find(out.begin(), out.end(), item) == out.end()) out.push_back(item);
    }
  }
  return out;
}

std::vector<std::string> parse_missing_plugins(std::string_view output) {
  std::vector<std::string> out;
  std::istringstream in{strip_ansi(output)};
  for (std::string line; std::getline(in, line);) {
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;  // notices, debugging: not a plugin line
    std::string component = trim(std::string_view(line).substr(0, tab));
    if (is_component(component)) out.push_back(component);
  }
  return out;
}

}  // namespace mupgrade::moodle
