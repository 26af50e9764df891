// adopt's Redis: the Redis a stack's Moodle keeps its sessions (config.php's session handler)
// or MUC caches (a Redis store in moodledata's muc/config.php) in becomes the set's cache
// service. Discovery finds its container and where its dump is on this host (redis-cli in its
// own container); the set's config.php and muc/config.php are pointed at the set's Redis.

#include "adopt_discover.hpp"

#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/core/site_config.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mupgrade::ops {

namespace {

const std::chrono::milliseconds kRedisReadTimeout{10000};

// Each Redis store of a muc/config.php (var_export's text): where its text begins and ends.
std::vector<std::pair<size_t, size_t>> redis_stores(const std::string& muc) {
  std::vector<std::pair<size_t, size_t>> out;
  for (size_t at = muc.find("'plugin' => 'redis'"); at != std::string::npos; at = muc.find("'plugin' => 'redis'", at + 1)) {
    size_t end = muc.find("'plugin' =>", at + 1);
    out.push_back({at, end == std::string::npos ? muc.size() : end});
  }
  return out;
}

// The quoted value of `'key' => '...'` within [from, to): its position and text.
std::optional<std::pair<size_t, std::string>> quoted(const std::string& muc, const std::string& key, size_t from, size_t to) {
  auto at = muc.find("'" + key + "' => '", from);
  if (at == std::string::npos || at >= to) return std::nullopt;
  size_t begin = at + key.size() + 7;
  auto end = muc.find('\'', begin);
  if (end == std::string::npos || end > to) return std::nullopt;
  return std::pair{begin, muc.substr(begin, end - begin)};
}

// "tls://redis:6379\nredis2" -> "redis".
std::string first_host(std::string server) {
  server = server.substr(0, server.find_first_of("\n\r,;"));
  if (auto scheme = server.find("://"); scheme != std::string::npos) server = server.substr(scheme + 3);
  return server.substr(0, server.find(':'));
}

// One CONFIG GET answer of the stack's Redis; it answers errors (NOAUTH) on stdout with exit 0.
std::string config_get(ports::Ports& p, const std::string& container, const std::string& param, const std::string& auth) {
  ports::ExecOptions o;
  o.cmd = {"redis-cli", "CONFIG", "GET", param};
  if (!auth.empty()) o.env = {"REDISCLI_AUTH=" + auth};  // never in argv
  o.timeout = kRedisReadTimeout;
  auto r = p.containers.exec(container, o);
  std::vector<std::string> lines;
  for (size_t pos = 0; pos < r.out.size();) {
    auto nl = r.out.find('\n', pos);
    lines.push_back(r.out.substr(pos, nl - pos));
    pos = nl == std::string::npos ? r.out.size() : nl + 1;
  }
  if (r.exit_code == 0 && !r.timed_out && lines.size() >= 2 && lines[0] == param && !lines[1].empty()) return lines[1];
  std::string said = !lines.empty() && !lines[0].empty() ? lines[0] : r.err.substr(0, r.err.find('\n'));
  throw Error(fmt::format("the stack's Redis {} cannot be read (redis-cli CONFIG GET {}: {})", container, param,
                          r.timed_out ? "timed out" : said.empty() ? fmt::format("exit {}", r.exit_code) : said),
              "adopt asks Redis where its dump is with redis-cli in its container (with config.php's session_redis_auth or the "
              "MUC Redis store's password, if any); "
              "make CONFIG GET answer, or move sessions and caches out of Redis first");
}

}  // namespace

std::vector<std::string> muc_redis_hosts(const std::string& muc) {
  std::vector<std::string> out;
  for (auto [from, to] : redis_stores(muc))
    if (auto server = quoted(muc, "server", from, to); server && !first_host(server->second).empty()) out.push_back(first_host(server->second));
  return out;
}

std::string muc_redis_password(const std::string& muc, const std::string& host) {
  for (auto [from, to] : redis_stores(muc)) {
    auto server = quoted(muc, "server", from, to);
    if (!server || first_host(server->second) != host) continue;
    if (auto pw = quoted(muc, "password", from, to); pw && !pw->second.empty()) return pw->second;
  }
  return "";
}

std::string adopted_muc_config(const std::string& original, const std::string& host) {
  std::string muc = original;
  auto stores = redis_stores(muc);
  // From the last store back: an edit never moves a store not yet edited.
  for (auto it = stores.rbegin(); it != stores.rend(); ++it) {
    auto server = quoted(muc, "server", it->first, it->second);
    if (!server || first_host(server->second) != host) continue;
    size_t end = it->second;
    if (auto pw = quoted(muc, "password", it->first, end)) {
      muc.replace(pw->first, pw->second.size(), "");  // the set's Redis asks for none
      end -= pw->second.size();
    }
    server = quoted(muc, "server", it->first, end);
    muc.replace(server->first, server->second.size(), core::kCacheAlias);
  }
  return muc;
}

namespace adopt_detail {

Secret discover_redis(ports::Ports& p, const std::vector<ports::ContainerInfo>& all, const std::string& php, StackFacts& f) {
  Secret auth;
  std::vector<std::string> hosts;
  if (core::config_php_setting(php, "session_handler_class").value_or("").find("redis") != std::string::npos) {
    auto h = core::config_php_setting(php, "session_redis_host");
    if (!h || h->empty())
      throw Error("the stack's config.php keeps sessions in Redis but sets no session_redis_host that mupgrade can read (a literal)",
                  "adopt reads config.php without running PHP: give the setting a literal value");
    f.redis_sessions = true;
    hosts.push_back(*h);
  }
  auto muc = p.storage.read_file(f.moodledata.host_path + "/muc/config.php");
  for (const auto& h : muc ? muc_redis_hosts(*muc) : std::vector<std::string>{}) {
    f.redis_muc = true;
    if (std::find(hosts.begin(), hosts.end(), h) == hosts.end()) hosts.push_back(h);
  }
  if (hosts.empty()) {
    for (const auto& c : all)
      if (c.image.find("redis") != std::string::npos)
        f.notes.push_back(fmt::format("{} ({}) looks like a Redis, but neither config.php nor muc/config.php names it: it is not carried into the set",
                                      c.name, c.image));
    return auth;
  }
  if (hosts.size() > 1)
    throw Error(fmt::format("Moodle uses {} Redis servers ({}, {}): a mupgrade set has one cache service", hosts.size(), hosts[0], hosts[1]),
                "point sessions and the MUC Redis store at the same Redis first");
  f.redis_host = hosts[0];
  const ports::ContainerInfo* redis = nullptr;
  for (const auto& c : all)
    if (c.name != f.web && c.name != f.db && names(c, f.redis_host)) redis = &c;
  std::optional<ports::ContainerInfo> lone;
  if (!redis && (lone = p.containers.inspect_container(f.redis_host))) redis = &*lone;
  if (!redis)
    throw Error(fmt::format("Moodle's Redis host '{}' is no container of '{}'", f.redis_host, f.from),
                "adopt carries a Redis that runs in a container of the stack (a Redis on another host is not supported)");
  if (!redis->running)
    throw Error(fmt::format("the stack's Redis {} is not running ({})", redis->name, redis->status), "start it first: Moodle's sessions are in it");
  f.redis = redis->name;
  f.redis_image = redis->image;
  // Its password: config.php's for sessions, else the MUC store's (a Redis kept for caches
  // only has it nowhere else). Where both are set and differ, the one Redis takes is used.
  std::vector<std::string> auths;
  for (auto a : {core::config_php_setting(php, "session_redis_auth").value_or(""), muc ? muc_redis_password(*muc, f.redis_host) : std::string()})
    if (!a.empty() && std::find(auths.begin(), auths.end(), a) == auths.end()) auths.push_back(a);
  if (auths.empty()) auths.push_back("");
  std::string dir;
  for (size_t i = 0; i < auths.size(); ++i) {
    try {
      dir = config_get(p, f.redis, "dir", auths[i]);
      auth = Secret(auths[i]);
      break;
    } catch (const Error&) {
      if (i + 1 == auths.size()) throw;
    }
  }
  f.redis_dump = config_get(p, f.redis, "dbfilename", auth.reveal());
  if (f.redis_dump.find('/') != std::string::npos)
    throw Error(fmt::format("the stack's Redis {} names its dump '{}' (a path)", f.redis, f.redis_dump), "give Redis a plain dbfilename");
  auto host = host_path_of(*redis, dir);
  if (!host)
    throw Error(fmt::format("the stack's Redis {} keeps its dump in {}, in no volume or bind mount", f.redis, dir),
                "run Redis with its data dir in a volume (its sessions would also be lost on its next restart)");
  f.cache_data = {dir, host->second, mount_label(host->first), 0};
  return auth;
}

}  // namespace adopt_detail
}  // namespace mupgrade::ops
