#pragma once
// What adopt's discovery files share (adopt_discover.cpp, adopt_redis.cpp).

#include "mupgrade/ops/adopt.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mupgrade::ops::adopt_detail {

/// "volume NAME" or the mount's type.
std::string mount_label(const ports::MountInfo& m);

/// The host path behind `path` in the container: the mount with the longest destination that
/// holds it; nullopt when no mount does (the data is inside the container's own layer).
std::optional<std::pair<ports::MountInfo, std::string>> host_path_of(const ports::ContainerInfo& c, const std::string& path);

/// The container answers to `host` on the stack's network (its name, Compose service or alias).
bool names(const ports::ContainerInfo& c, const std::string& host);

/// Finds the Redis Moodle keeps its sessions (config.php) or MUC caches (moodledata's
/// muc/config.php) in and where its dump is on this host; fills f.redis*, f.cache_data and the
/// notes. No Redis named: nothing. Throws Error when it cannot carry it safely.
void discover_redis(ports::Ports& p, const std::vector<ports::ContainerInfo>& all, const std::string& config_php, StackFacts& f);

}  // namespace mupgrade::ops::adopt_detail
