// A set's cache service (config `cache`, Redis): its container, its readiness and the save that
// makes its data dir a complete picture of it before a snapshot. Reached only through
// `redis-cli` in the set's own cache container, so nothing here can touch another set's Redis.

#include "mupgrade/ops/site.hpp"

#include "mupgrade/core/poll.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

namespace {
constexpr const char* kCacheDataDir = "/data";
constexpr std::chrono::milliseconds kRedisCallTimeout{10000};

// "name:value" of Redis's INFO output ("" when absent).
std::string info_field(const std::string& info, const std::string& name) {
  auto at = info.find(name + ":");
  if (at == std::string::npos) return {};
  auto end = info.find_first_of("\r\n", at);
  return info.substr(at + name.size() + 1, end == std::string::npos ? std::string::npos : end - at - name.size() - 1);
}
}  // namespace

std::vector<std::string> Site::containers_of(const std::string& set) const {
  std::vector<std::string> out = {web_container(set), db_container(set)};
  if (cfg_.cache.enabled()) out.push_back(cache_container(set));
  return out;
}

void Site::create_cache(const std::string& set) {
  if (!cfg_.cache.enabled() || ports_.containers.inspect_container(cache_container(set))) return;
  ensure_set_network(set);
  ports::ContainerSpec spec;
  spec.name = cache_container(set);
  spec.image = cfg_.cache.image;
  spec.labels = layout_.labels(set, "cache");
  spec.network = set_network(set);
  spec.network_aliases = {core::kCacheAlias};
  spec.mounts = {{paths(set).cache, kCacheDataDir, false}};
  spec.stop_timeout_s = 30;  // Redis saves its dump on SIGTERM before it exits
  ports_.containers.create_container(spec);
}

std::string Site::redis_cli(const std::string& set, const std::vector<std::string>& args) {
  ports::ExecOptions o;
  o.cmd = {"redis-cli"};
  o.cmd.insert(o.cmd.end(), args.begin(), args.end());
  o.timeout = kRedisCallTimeout;
  auto r = ports_.containers.exec(cache_container(set), o);
  if (r.exit_code != 0 || r.timed_out)
    throw Error(fmt::format("redis-cli {} in {} failed: {}", args.empty() ? "" : args.front(), cache_container(set),
                            r.timed_out ? "timed out" : (r.err.empty() ? r.out : r.err)),
                "docker logs " + cache_container(set));
  return r.out;
}

void Site::wait_cache_ready(const std::string& set) {
  // Until its dump is loaded Redis answers LOADING; Moodle's session handler would fail.
  // A refused connection or LOADING is redis-cli's answer (asked again); a failed Docker call is not.
  ports::ExecOptions ping;
  ping.cmd = {"redis-cli", "PING"};
  ping.timeout = kRedisCallTimeout;
  core::poll_until(
      [&](std::string& why) {
        auto r = ports_.containers.exec(cache_container(set), ping);
        why = r.out.empty() ? r.err : r.out;
        return r.exit_code == 0 && r.out.rfind("PONG", 0) == 0;
      },
      kCacheStartTimeout, fmt::format("the cache service of set {} did not answer", set), "docker logs " + cache_container(set),
      std::chrono::milliseconds(50));
}

bool Site::save_cache(const std::string& set) {
  if (!cfg_.cache.enabled()) return false;
  auto info = ports_.containers.inspect_container(cache_container(set));
  if (!info || !info->running) return false;
  // BGSAVE forks: Redis keeps answering while the dump is written (a rehearsal saves
  // production's). One already running (a save point) is waited for, then ours starts.
  std::string started;
  core::poll_until(
      [&](std::string& why) {
        try {
          started = redis_cli(set, {"BGSAVE"});
        } catch (const Error& e) {
          if (std::string(e.what()).find("in progress") == std::string::npos) throw;
          started = e.what();
        }
        why = started;
        if (started.find("started") != std::string::npos) return true;
        if (started.find("in progress") != std::string::npos) return false;  // "ERR Background save already in progress"
        throw Error(fmt::format("Redis of set {} refused a background save: {}", set, started), "docker logs " + cache_container(set));
      },
      kCacheSaveTimeout, fmt::format("Redis of set {} did not start a background save", set), "docker logs " + cache_container(set),
      std::chrono::milliseconds(50));
  std::string persistence;
  core::poll_until(
      [&](std::string& why) {
        persistence = redis_cli(set, {"INFO", "persistence"});
        why = "rdb_bgsave_in_progress:" + info_field(persistence, "rdb_bgsave_in_progress");
        return info_field(persistence, "rdb_bgsave_in_progress") == "0";
      },
      kCacheSaveTimeout, fmt::format("Redis of set {} did not finish its save", set), "docker logs " + cache_container(set),
      std::chrono::milliseconds(20));
  if (info_field(persistence, "rdb_last_bgsave_status") != "ok")
    throw Error(fmt::format("Redis of set {} could not write its dump (rdb_last_bgsave_status:{})", set, info_field(persistence, "rdb_last_bgsave_status")),
                fmt::format("check the free space in the pool and docker logs {}", cache_container(set)));
  return true;
}

}  // namespace mupgrade::ops
