#pragma once
// What adopt's discovery files share (adopt_discover.cpp, adopt_redis.cpp, adopt_image.cpp).

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

/// No mount holds the code: the container that has Moodle's config.php and version.php (or a
/// 5.1 public/version.php) in its own files (built into its image; its writable layer too), the
/// serving one first, at Apache's DocumentRoot or where images keep the code. Fills `code`
/// (kInImage) and `config_php`; `looked` gets the dirs tried. nullptr when none has it.
const ports::ContainerInfo* find_web_in_containers(ports::Containers& containers, const std::vector<ports::ContainerInfo>& all,
                                                    StackData& code, std::string& config_php, std::vector<std::string>& looked);

/// Finds the Redis Moodle keeps its sessions (config.php) or MUC caches (moodledata's
/// muc/config.php) in and where its dump is on this host; fills f.redis*, f.cache_data and the
/// notes. No Redis named: nothing. Throws Error when it cannot carry it safely. Returns the
/// password the stack's Redis took (empty: none).
Secret discover_redis(ports::Ports& p, const std::vector<ports::ContainerInfo>& all, const std::string& config_php, StackFacts& f);

}  // namespace mupgrade::ops::adopt_detail
