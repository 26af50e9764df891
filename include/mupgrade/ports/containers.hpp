#pragma once
// Port: the container calls the operations make (Docker Engine API in production,
// tests/unit/fakes in unit tests). Plain data in, plain data out.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mupgrade::ports {

using Labels = std::map<std::string, std::string>;

/// Which output stream a line of a container process came from.
enum class Stream { out, err };
using LineFn = std::function<void(Stream, std::string_view)>;

struct Mount {
  std::string host_path;
  std::string container_path;
  bool read_only = false;
};

/// A published port. Only loopback is allowed: a set must never be reachable from outside.
struct PublishedPort {
  int container_port = 0;
  int host_port = 0;  // 0: Docker picks a free one
  std::string host_ip = "127.0.0.1";
};

struct ContainerSpec {
  std::string name;
  std::string image;
  std::vector<std::string> cmd;         // empty: the image's CMD
  std::vector<std::string> entrypoint;  // empty: the image's ENTRYPOINT
  std::map<std::string, std::string> env;  // never secrets: pass those as *_FILE mounts
  Labels labels;
  std::vector<Mount> mounts;
  std::vector<PublishedPort> ports;
  std::string network;
  std::vector<std::string> network_aliases;
  std::string stop_signal;
  std::optional<int> stop_timeout_s;
};

/// A mount as Docker reports it: a named volume (its data dir on this host in `source`) or a
/// bind mount of a host path.
struct MountInfo {
  std::string type;         // volume | bind | tmpfs
  std::string name;         // the volume's name (type volume)
  std::string source;       // host path
  std::string destination;  // path in the container
  bool read_only = false;
};

struct ContainerInfo {
  std::string id;
  std::string name;  // without the leading '/'
  std::string image;
  bool running = false;
  std::string status;  // created, running, exited, ...
  int exit_code = 0;
  int pid = 0;
  Labels labels;
  std::map<std::string, std::string> network_ips;  // network name -> IPv4 address
  std::map<int, int> host_ports;                   // container port -> published loopback port
  std::vector<MountInfo> mounts;
  /// The process environment (image's and the container's own). May hold secrets: read what
  /// is needed, never print it.
  std::map<std::string, std::string> env;
  std::vector<std::string> aliases;  // DNS names on its networks (Compose's service name among them)
  std::map<int, int> any_host_ports;  // container port -> published host port, on any address
};

struct ExecOptions {
  std::vector<std::string> cmd;
  std::string user;
  std::string workdir;
  std::vector<std::string> env;  // "NAME=value"
  std::chrono::milliseconds timeout{0};  // 0: no limit
  LineFn on_line;                        // called for each line as it arrives
};

struct ExecResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;  // the process was killed when the timeout passed
  std::chrono::milliseconds duration{0};
};

/// One entry of a container's own changes to its image's files (`docker diff`).
struct FileChange {
  enum class Kind { modified = 0, added = 1, deleted = 2 };  // as Docker numbers them
  std::string path;  // absolute, in the container
  Kind kind = Kind::modified;
};

struct ImageInfo {
  std::string id;
  Labels labels;
};

struct NetworkInfo {
  std::string id;
  std::string name;
  bool internal = false;
  Labels labels;
};

/// Default wait for one container call (a stop adds its own grace period).
inline constexpr std::chrono::milliseconds kContainerCallTimeout{30000};

class Containers {
public:
  virtual ~Containers() = default;
  virtual std::optional<ImageInfo> image(const std::string& ref) = 0;
  /// Returns the new container's id.
  virtual std::string create_container(const ContainerSpec& spec) = 0;
  virtual void start_container(const std::string& id) = 0;
  virtual void stop_container(const std::string& id, std::chrono::seconds grace) = 0;
  virtual void kill_container(const std::string& id, const std::string& signal) = 0;
  virtual void remove_container(const std::string& id, bool force) = 0;
  virtual std::optional<ContainerInfo> inspect_container(const std::string& id) = 0;
  /// Containers carrying every one of `labels`; an empty key, value or map is refused.
  virtual std::vector<ContainerInfo> list_containers(const Labels& labels, bool all) = 0;
  /// Waits for the container to exit; returns its exit code.
  virtual int wait_container(const std::string& id, std::chrono::milliseconds timeout) = 0;
  virtual std::string logs(const std::string& id, int tail_lines) = 0;
  virtual ExecResult exec(const std::string& container, const ExecOptions& opts) = 0;
  /// The tree at `path` in the container as it is now (its own writable layer over its image,
  /// mounts included; running or stopped), extracted at `host_dir`: the tree's contents land
  /// in host_dir itself, with their modes, numeric owners and mtimes (host_dir takes the tree's
  /// own; it is made when missing, its parent must exist). When `path` is a file or a symlink,
  /// host_dir is where it lands, replacing what is there. Reading changes nothing in the
  /// container. An empty host_dir extracts nothing (the size alone). Returns the archive's bytes
  /// (the tree's size plus its headers); nullopt when the container has no such path.
  virtual std::optional<std::uint64_t> copy_from_container(const std::string& container, const std::string& path,
                                                           const std::string& host_dir) = 0;
  /// The content of the regular file at `path` in the container (as copy_from_container sees
  /// it; symlinks followed); nullopt when there is no such file.
  virtual std::optional<std::string> read_container_file(const std::string& container, const std::string& path) = 0;
  /// What the container's own writable layer changed in its image's files (mounts not
  /// included; running or stopped), every changed path with the dirs above it (modified), as
  /// `docker diff` lists them, in no set order. A dir deleted and made again is listed modified,
  /// its old entries deleted and its new ones added (overlay2; another storage driver may list
  /// it deleted, its new entries added).
  virtual std::vector<FileChange> container_changes(const std::string& container) = 0;
  virtual std::string create_network(const std::string& name, const Labels& labels, bool internal) = 0;
  virtual void connect_network(const std::string& network, const std::string& container,
                               const std::vector<std::string>& aliases) = 0;
  /// Detaches a container (running or stopped) from a network; nothing when it is not attached.
  virtual void disconnect_network(const std::string& network, const std::string& container) = 0;
  virtual void remove_network(const std::string& name_or_id) = 0;
  virtual std::optional<NetworkInfo> network(const std::string& name_or_id) = 0;
  /// Networks carrying every one of `labels`; an empty key, value or map is refused.
  virtual std::vector<NetworkInfo> list_networks(const Labels& labels) = 0;
};

}  // namespace mupgrade::ports
