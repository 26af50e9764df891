#include "mupgrade/config/playbook_load.hpp"

#include "mupgrade/core/error.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <map>

namespace mupgrade::config {

const std::map<std::string, std::string>& builtin_playbooks();  // generated from playbooks/*.yml

namespace {

core::Playbook parse(const std::string& text, const std::string& operation, const std::string& source) {
  auto fail = [&](const YAML::Mark& m, const std::string& what) -> core::Playbook {
    throw UsageError(fmt::format("{}:{}:{}: {}", source, m.line + 1, m.column + 1, what), "fix the playbook (the built-in ones are in playbooks/)");
  };
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    return fail(e.mark, e.msg);
  }
  if (!root.IsMap()) return fail(root.Mark(), "a playbook is a mapping with 'operation' and 'steps'");
  for (const auto& kv : root)
    if (auto k = kv.first.as<std::string>(); k != "operation" && k != "steps")
      return fail(kv.first.Mark(), fmt::format("unknown key '{}' (expected operation, steps)", k));
  if (!root["operation"] || root["operation"].as<std::string>() != operation)
    return fail(root.Mark(), fmt::format("'operation' must be {}", operation));
  YAML::Node steps = root["steps"];
  if (!steps || !steps.IsSequence() || steps.size() == 0) return fail(root.Mark(), "'steps' must be a list of step names");
  core::Playbook pb{operation, source, {}};
  for (const auto& s : steps) {
    if (!s.IsScalar()) return fail(s.Mark(), "each step is a name");
    pb.steps.push_back(s.as<std::string>());
  }
  return pb;
}

}  // namespace

core::Playbook parse_playbook(const std::string& text, const std::string& operation, const std::string& source) {
  try {
    return parse(text, operation, source);
  } catch (const YAML::Exception& e) {  // a value of an unexpected type ('operation: [a]')
    throw UsageError(fmt::format("{}:{}:{}: {}", source, e.mark.line + 1, e.mark.column + 1, e.msg),
                     "fix the playbook (the built-in ones are in playbooks/)");
  }
}

core::Playbook load_playbook(const std::string& operation, const std::string& dir) {
  if (dir.empty()) {
    auto it = builtin_playbooks().find(operation);
    if (it == builtin_playbooks().end()) throw Error("no built-in playbook for " + operation);
    return parse_playbook(it->second, operation, "built-in playbooks/" + operation + ".yml");
  }
  std::string path = dir + "/" + operation + ".yml";
  std::ifstream in(path);
  if (!in) throw UsageError(fmt::format("cannot read playbook {}", path), "copy the built-in one from playbooks/ there, or remove playbooks_dir from the site config");
  return parse_playbook(std::string(std::istreambuf_iterator<char>(in), {}), operation, path);
}

}  // namespace mupgrade::config

namespace mupgrade::config {

void load_playbooks(core::SiteConfig& cfg) {
  for (const char* op : {"cutover", "rehearse", "rollback"}) cfg.playbooks[op] = load_playbook(op, cfg.playbooks_dir);
}

}  // namespace mupgrade::config
