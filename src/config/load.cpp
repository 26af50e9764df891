#include "mupgrade/config/load.hpp"

#include "mupgrade/core/config_keys.hpp"
#include "mupgrade/core/error.hpp"

#include <fmt/format.h>

#include <cctype>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

namespace mupgrade::config {

using core::SiteConfig;

std::string default_path(const std::string& site) { return "/etc/mupgrade/" + site + ".yml"; }

namespace {

struct Reader {
  std::string file;

  [[noreturn]] void fail(const YAML::Node& n, const std::string& what) const {
    auto m = n.Mark();
    throw UsageError(fmt::format("{}:{}:{}: {}", file, m.line + 1, m.column + 1, what),
                "fix the config file (README.md, 'Site config', has an example)");
  }

  // A key given twice: YAML readers disagree on which one counts (yaml-cpp takes the first).
  void once_each(const YAML::Node& map, const std::string& where) const {
    std::map<std::string, int> seen;  // key -> its line
    for (const auto& kv : map) {
      if (!kv.first.IsScalar()) fail(kv.first, fmt::format("a key in {} must be a plain name", where));
      auto [at, fresh] = seen.emplace(kv.first.as<std::string>(), kv.first.Mark().line + 1);
      if (!fresh) fail(kv.first, fmt::format("'{}' is given twice in {} (first on line {})", at->first, where, at->second));
    }
  }

  /// The mapping holds only the keys core::config_keys() lists for `section`.
  void only_keys(const YAML::Node& map, std::string_view section) const {
    std::string where = core::section_title(section);
    once_each(map, where);
    auto allowed = core::keys_in(section);
    std::set<std::string> ok(allowed.begin(), allowed.end());
    for (const auto& kv : map) {
      std::string key = kv.first.as<std::string>();
      if (!ok.count(key)) {
        std::string list;
        for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
        fail(kv.first, fmt::format("unknown key '{}' in {} (expected one of: {})", key, where, list));
      }
    }
  }

  YAML::Node map(const YAML::Node& parent, const char* key, bool required) const {
    YAML::Node n = parent[key];
    if (!n) {
      if (required) fail(parent, fmt::format("missing '{}'", key));
      return n;
    }
    if (!n.IsMap()) fail(n, fmt::format("'{}' must be a mapping", key));
    return n;
  }

  /// A string value. Given but empty is an error: an empty name or path would silently mean
  /// something else (the default, "any", or the current dir). `may_be_empty` only for values
  /// where empty has a meaning of its own (Moodle's table prefix).
  std::string str(const YAML::Node& parent, const char* key, bool required, std::string fallback = {}, bool may_be_empty = false) const {
    YAML::Node n = parent[key];
    if (!n || n.IsNull()) {
      if (required) fail(parent, fmt::format("missing '{}'", key));
      return fallback;
    }
    if (!n.IsScalar()) fail(n, fmt::format("'{}' must be a string", key));
    std::string v = n.as<std::string>();
    if (v.empty() && !may_be_empty) fail(n, fmt::format("'{}' must not be empty", key));
    return v;
  }

  /// A list item or mapping value that must be a plain value.
  std::string scalar(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) fail(n, fmt::format("{} must be a plain value, not a list or mapping", what));
    return n.as<std::string>();
  }

  int integer(const YAML::Node& parent, const char* key, int fallback, int min, int max) const {
    YAML::Node n = parent[key];
    if (!n) return fallback;
    int v = 0;
    try {
      v = n.as<int>();
    } catch (const YAML::Exception&) {
      fail(n, fmt::format("'{}' must be a whole number", key));
    }
    if (v < min || v > max) fail(n, fmt::format("'{}' must be between {} and {}", key, min, max));
    return v;
  }

  bool boolean(const YAML::Node& parent, const char* key, bool fallback) const {
    YAML::Node n = parent[key];
    if (!n) return fallback;
    try {
      return n.as<bool>();
    } catch (const YAML::Exception&) {
      fail(n, fmt::format("'{}' must be true or false", key));
    }
  }

  void absolute(const YAML::Node& parent, const char* key, const std::string& value) const {
    if (!value.empty() && value.front() != '/') fail(parent[key], fmt::format("'{}' must be an absolute path", key));
  }
};

SiteConfig parse(const std::string& text, const std::string& file) {
  Reader r{file};
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw UsageError(fmt::format("{}:{}:{}: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg), "fix the YAML syntax");
  }
  if (!root.IsMap()) throw UsageError(fmt::format("{}:1:1: the config must be a mapping of keys", file), "see README.md, 'Site config'");
  r.only_keys(root, "");

  SiteConfig c;
  c.file = file;
  c.site = r.str(root, "site", true);
  for (char ch : c.site)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_')
      r.fail(root["site"], "'site' may hold only letters, digits, '-' and '_' (it names containers)");
  c.public_url = r.str(root, "public_url", true);
  c.public_host = core::host_of_url(c.public_url);
  if (c.public_host.empty()) r.fail(root["public_url"], "'public_url' must be an http:// or https:// URL (Moodle's wwwroot)");
  c.pool = r.str(root, "pool", true);
  r.absolute(root, "pool", c.pool);
  c.state_dir = r.str(root, "state_dir", false, "/var/lib/mupgrade/" + c.site);
  r.absolute(root, "state_dir", c.state_dir);
  c.network = r.str(root, "network", false, "mupgrade-" + c.site);

  YAML::Node db = r.map(root, "db", true);
  r.only_keys(db, "db");
  auto db_kind = core::db_kind_named(r.str(db, "kind", false, "mariadb"));
  if (!db_kind) r.fail(db["kind"], "'kind' must be mariadb or postgresql");
  c.db.kind = *db_kind;
  const auto& engine = core::engine_of(c.db.kind);
  c.db.image = r.str(db, "image", false, std::string(engine.image));
  c.db.name = r.str(db, "name", false, "moodle");
  c.db.user = r.str(db, "user", false, std::string(engine.user));
  c.db.password_file = r.str(db, "password_file", false);
  c.db.password_env = r.str(db, "password_env", false);
  if (c.db.password_file.empty() == c.db.password_env.empty())
    r.fail(db, "give exactly one of 'password_file' or 'password_env' (the password itself never goes in this file)");
  r.absolute(db, "password_file", c.db.password_file);
  c.db.relaxed_durability = r.boolean(db, "relaxed_durability", true);
  c.db.prefix = r.str(db, "prefix", false, "mdl_", true);
  c.db.prefix_given = db["prefix"] && !db["prefix"].IsNull();
  for (char ch : c.db.prefix)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') r.fail(db["prefix"], "'prefix' is Moodle's $CFG->prefix: letters, digits and _ only");

  YAML::Node web = r.map(root, "web", false);
  if (web) r.only_keys(web, "web");
  c.web_image = web ? r.str(web, "image", false, "mupgrade/web:php8.2") : "mupgrade/web:php8.2";
  c.web_port = web ? r.integer(web, "port", 80, 1, 65535) : 80;

  YAML::Node cache = r.map(root, "cache", false);
  if (cache) {
    r.only_keys(cache, "cache");
    c.cache.kind = r.str(cache, "kind", true);
    if (c.cache.kind != "redis")
      r.fail(cache["kind"], "'kind' must be redis (memcached keeps nothing on disk, so a set's cache could not travel with its snapshot)");
    c.cache.image = r.str(cache, "image", false, core::kDefaultRedisImage);
  }

  YAML::Node proxy = r.map(root, "proxy", true);
  r.only_keys(proxy, "proxy");
  auto proxy_kind = core::proxy_kind_named(r.str(proxy, "kind", false, "haproxy"));
  if (!proxy_kind) r.fail(proxy["kind"], "'kind' must be haproxy or nginx");
  c.proxy.kind = *proxy_kind;
  c.proxy.container = r.str(proxy, "container", true);
  c.proxy.config_dir = r.str(proxy, "config_dir", true);
  r.absolute(proxy, "config_dir", c.proxy.config_dir);
  c.proxy.url = r.str(proxy, "url", true);
  c.proxy.image = r.str(proxy, "image", false, std::string(core::default_proxy_image(c.proxy.kind)));
  if (c.proxy.url.rfind("http://127.", 0) != 0 && c.proxy.url.rfind("http://localhost", 0) != 0)
    r.fail(proxy["url"], "'url' must reach the proxy on loopback (http://127.0.0.1:PORT)");

  YAML::Node target = r.map(root, "target", false);
  if (target) {
    r.only_keys(target, "target");
    c.target_code = r.str(target, "code", false);
    r.absolute(target, "code", c.target_code);
    c.target_image = r.str(target, "image", false);
    YAML::Node git = r.map(target, "git", false);
    if (git) {
      if (!c.target_code.empty()) r.fail(git, "give one release source: 'target.code' or 'target.git', not both");
      r.only_keys(git, "target.git");
      c.target_git_repo = r.str(git, "repo", true);
      r.absolute(git, "repo", c.target_git_repo);
      c.target_git_ref = r.str(git, "ref", true);
      if (c.target_git_ref.empty() || c.target_git_ref[0] == '-') r.fail(git["ref"], "'ref' must name a branch, tag or commit");
    }
    bool code_elsewhere = !c.target_code.empty() || git;
    if (target["image_code"] && code_elsewhere)
      r.fail(target["image_code"], "'image_code' applies only when the code comes from target.image (no target.code or target.git)");
    if (!code_elsewhere && !c.target_image.empty()) {
      c.target_image_code = target["image_code"] ? r.str(target, "image_code", true) : "/var/www/moodle";
      if (c.target_image_code.empty() || c.target_image_code[0] != '/') r.fail(target["image_code"], "'image_code' must be an absolute path in the image");
    }
  }
  if (c.target_image.empty()) c.target_image = c.web_image;

  YAML::Node up = r.map(root, "upgrade", false);
  if (up) {
    r.only_keys(up, "upgrade");
    c.upgrade_timeout_s = r.integer(up, "timeout_s", 3600, 10, 86400);
    c.cron_drain_timeout_s = r.integer(up, "cron_drain_timeout_s", 120, 0, 3600);
    c.purge_caches_after_upgrade = r.boolean(up, "purge_caches", false);
  }
  YAML::Node ret = r.map(root, "retention", false);
  if (ret) {
    r.only_keys(ret, "retention");
    c.retention.keep_sets = r.integer(ret, "keep_sets", 3, 2, 100);
    c.retention.keep_clones = r.integer(ret, "keep_clones", 1, 0, 100);
    c.retention.keep_reports = r.integer(ret, "keep_reports", 60, 1, 100000);
    c.retention.max_report_age_days = r.integer(ret, "max_report_age_days", 90, 1, 36500);
    c.retention.min_free_bytes = static_cast<unsigned long long>(r.integer(ret, "min_free_gb", 2, 0, 1 << 20)) << 30;
  }
  YAML::Node reh = r.map(root, "rehearse", false);
  if (reh) {
    r.only_keys(reh, "rehearse");
    c.rehearse.prometheus_textfile = r.str(reh, "prometheus_textfile", false);
    r.absolute(reh, "prometheus_textfile", c.rehearse.prometheus_textfile);
    if (YAML::Node sp = reh["smoke_paths"]) {
      if (!sp.IsSequence()) r.fail(sp, "'smoke_paths' must be a list of paths like /pluginfile.php/...");
      for (const auto& p : sp) {
        if (!p.IsScalar() || p.as<std::string>().empty() || p.as<std::string>().front() != '/') r.fail(p, "each smoke path starts with '/'");
        c.rehearse.smoke_paths.push_back(p.as<std::string>());
      }
    }
  }
  c.playbooks_dir = r.str(root, "playbooks_dir", false);
  r.absolute(root, "playbooks_dir", c.playbooks_dir);
  if (YAML::Node steps = root["steps"]) {
    if (!steps.IsSequence()) r.fail(steps, "'steps' must be a list of site steps");
    for (const auto& n : steps) {
      if (!n.IsMap()) r.fail(n, "each site step is a mapping (name, before|after, and one of cfg, exec, host)");
      r.only_keys(n, "steps[]");
      core::SiteStep st;
      st.name = r.str(n, "name", true);
      st.where = fmt::format("{}:{}", file, n.Mark().line + 1);
      if (bool(n["before"]) == bool(n["after"])) r.fail(n, fmt::format("site step '{}' needs exactly one of 'before' or 'after' (a playbook step name)", st.name));
      st.before = bool(n["before"]);
      st.anchor = r.str(n, st.before ? "before" : "after", true);
      if (YAML::Node ops = n["operations"]) {
        if (!ops.IsSequence()) r.fail(ops, "'operations' must be a list (cutover, rehearse)");
        for (const auto& o : ops) {
          std::string op = r.scalar(o, "an operation");
          if (op != "cutover" && op != "rehearse") r.fail(o, "an operation is cutover or rehearse");
          st.operations.push_back(op);
        }
      } else {
        st.operations = {"cutover", "rehearse"};
      }
      int kinds = bool(n["cfg"]) + bool(n["exec"]) + bool(n["host"]);
      if (kinds != 1) r.fail(n, fmt::format("site step '{}' needs exactly one of 'cfg' (settings), 'exec' (command in green's web container) or 'host' (command on this host)", st.name));
      if (YAML::Node cfgs = n["cfg"]) {
        st.kind = "cfg";
        if (!cfgs.IsMap()) r.fail(cfgs, "'cfg' must be a mapping of setting: value");
        r.once_each(cfgs, fmt::format("site step '{}''s cfg", st.name));
        for (const auto& kv : cfgs)
          st.settings.emplace_back(r.scalar(kv.first, "a 'cfg' setting's name"), r.scalar(kv.second, "a 'cfg' setting's value"));
      } else {
        st.kind = n["exec"] ? "exec" : "host";
        YAML::Node cmd = n[st.kind];
        if (!cmd.IsSequence() || cmd.size() == 0) r.fail(cmd, fmt::format("'{}' must be a command as a list: [program, arg, ...]", st.kind));
        for (const auto& a : cmd) st.command.push_back(r.scalar(a, fmt::format("each word of '{}'", st.kind)));
        if (st.command[0].empty()) r.fail(cmd, fmt::format("'{}' names no program", st.kind));
        if (st.kind == "host" && st.command[0].front() != '/') r.fail(cmd, "a host command starts with an absolute path");
      }
      st.timeout_s = r.integer(n, "timeout_s", 600, 1, 86400);
      c.steps.push_back(std::move(st));
    }
  }
  YAML::Node settings = r.map(root, "settings", false);
  if (settings) r.once_each(settings, "settings");
  if (settings)
    for (const auto& kv : settings) {
      if (!kv.first.IsScalar() || !kv.second.IsScalar()) r.fail(kv.second, "each setting must be name: value");
      c.after_upgrade_settings.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
    }
  return c;
}

}  // namespace

SiteConfig parse_site_config(const std::string& text, const std::string& file) {
  try {
    return parse(text, file);
  } catch (const YAML::Exception& e) {
    // A value of a type no check above expected: still a config error, with its place.
    throw UsageError(fmt::format("{}:{}:{}: {}", file, e.mark.line + 1, e.mark.column + 1, e.msg),
                     "fix the config file (README.md, 'Site config', has an example)");
  }
}

SiteConfig load_site_config(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw UsageError(fmt::format("the site config {} is a directory", path), "give the path of the site's YAML file with --config");
  std::ifstream in(path);
  if (!in)
    throw UsageError(fmt::format("cannot read site config {}", path),
                "give its path with --config, or create it (README.md, 'Site config', has an example)");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  return parse_site_config(text, path);
}

}  // namespace mupgrade::config
