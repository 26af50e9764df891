#pragma once
// The Docker Engine API over its unix socket: the only way mupgrade touches containers.

#include "mupgrade/core/error.hpp"
#include "mupgrade/docker/stream_demux.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::docker {

/// Default wait for one API call (container stop adds its own grace period).
inline constexpr std::chrono::milliseconds kApiTimeout{30000};
/// Oldest Engine API mupgrade speaks (Docker 19.03) and newest it asks for.
inline constexpr std::string_view kMinApiVersion = "1.40";
inline constexpr std::string_view kMaxApiVersion = "1.45";

/// A failed API call: Docker's own message and the HTTP status (0 when no answer came).
class DockerError : public Error {
public:
  DockerError(std::string what, long http_status, std::string hint = {})
      : Error(std::move(what), std::move(hint)), http_status_(http_status) {}
  long http_status() const noexcept { return http_status_; }

private:
  long http_status_;
};

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
  std::map<std::string, std::string> labels;
  std::vector<Mount> mounts;
  std::vector<PublishedPort> ports;
  std::string network;
  std::vector<std::string> network_aliases;
  std::string stop_signal;
  std::optional<int> stop_timeout_s;
};

struct ContainerInfo {
  std::string id;
  std::string name;  // without the leading '/'
  std::string image;
  bool running = false;
  std::string status;  // created, running, exited, ...
  int exit_code = 0;
  int pid = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> network_ips;  // network name -> IPv4 address
  std::map<int, int> host_ports;                   // container port -> published loopback port
};

/// A network as GET /networks lists it.
struct NetworkInfo {
  std::string id;
  std::string name;
  std::map<std::string, std::string> labels;
};

struct ExecOptions {
  std::vector<std::string> cmd;
  std::string user;
  std::string workdir;
  std::vector<std::string> env;  // "NAME=value"
  std::chrono::milliseconds timeout{0};  // 0: no limit
  StreamDemux::LineFn on_line;           // called for each line as it arrives
};

struct ExecResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;  // the process was killed when the timeout passed
  std::chrono::milliseconds duration{0};
};

struct EngineVersion {
  std::string server_version;
  std::string api_version;  // the one negotiated for this client
};

class DockerEngine {
public:
  explicit DockerEngine(std::string socket_path = "/var/run/docker.sock");

  /// Pings the daemon and settles on min(daemon's API, kMaxApiVersion); refuses < kMinApiVersion.
  EngineVersion negotiate();
  const std::string& socket_path() const { return socket_; }

  std::optional<nlohmann::json> inspect_image(const std::string& ref);

  std::string create_container(const ContainerSpec& spec);  // returns the id
  void start_container(const std::string& id);
  void stop_container(const std::string& id, std::chrono::seconds grace);
  void kill_container(const std::string& id, const std::string& signal = "SIGKILL");
  void remove_container(const std::string& id, bool force = false);
  std::optional<ContainerInfo> inspect_container(const std::string& id);
  /// Containers carrying every one of `labels` (see label_filters: none may be empty).
  std::vector<ContainerInfo> list_containers(const std::map<std::string, std::string>& labels, bool all = true);
  int wait_container(const std::string& id, std::chrono::milliseconds timeout = kApiTimeout);
  std::string logs(const std::string& id, int tail_lines = 100);

  ExecResult exec(const std::string& container, const ExecOptions& opts);

  std::string create_network(const std::string& name, const std::map<std::string, std::string>& labels,
                             bool internal = false);
  void connect_network(const std::string& network, const std::string& container,
                       const std::vector<std::string>& aliases = {});
  void remove_network(const std::string& name_or_id);
  /// Networks carrying every one of `labels` (see label_filters: none may be empty).
  std::vector<NetworkInfo> list_networks(const std::map<std::string, std::string>& labels);
  std::optional<nlohmann::json> inspect_network(const std::string& name_or_id);

private:
  struct Reply {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
  };
  using ChunkFn = std::function<void(std::string_view)>;
  Reply call(const std::string& method, const std::string& path, const nlohmann::json* body = nullptr,
             std::chrono::milliseconds timeout = kApiTimeout, ChunkFn on_chunk = {}, bool versioned = true);
  [[noreturn]] void fail(const std::string& method, const std::string& path, const Reply& r);
  Reply expect(const std::string& method, const std::string& path, std::initializer_list<long> ok,
               const nlohmann::json* body = nullptr, std::chrono::milliseconds timeout = kApiTimeout);

  std::string socket_;
  std::string api_version_;
};

/// The `filters` query value (JSON, before URL escaping) selecting objects that carry every one
/// of `labels` with exactly that value. Throws Error, so that nothing is asked of Docker, for an
/// empty map, an empty key, a key with '=' or an empty value: Docker reads no label filter as
/// "every object" and `label=<key>` as "any value of <key>", so a site name that happens to be
/// empty would select the containers of every site on the host.
std::string label_filters(const std::map<std::string, std::string>& labels);

/// Throws Error for a label with an empty key, a key with '=' or an empty value on `object`
/// (e.g. "container mupgrade-x-db") about to be created: such a label could only ever be found
/// again by the widened filters label_filters refuses. An empty map is allowed.
void check_labels(const std::map<std::string, std::string>& labels, const std::string& object);

/// Compares "1.41" style versions numerically.
int compare_api_versions(std::string_view a, std::string_view b);

}  // namespace mupgrade::docker
