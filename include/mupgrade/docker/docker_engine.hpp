#pragma once
// The Docker Engine API over its unix socket: the only way mupgrade touches containers.

#include "mupgrade/core/error.hpp"
#include "mupgrade/docker/stream_demux.hpp"
#include "mupgrade/ports/containers.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
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
/// Longest wait for one archive of a container's tree (a Moodle tree with plugins is ~400 MB).
inline constexpr std::chrono::milliseconds kArchiveTimeout{30 * 60 * 1000};
/// What extracts an archive on this host (GNU tar: Debian's is essential).
inline constexpr const char* kTar = "/bin/tar";

/// A failed API call: Docker's own message and the HTTP status (0 when no answer came).
class DockerError : public Error {
public:
  DockerError(std::string what, long http_status, std::string hint = {})
      : Error(std::move(what), std::move(hint)), http_status_(http_status) {}
  long http_status() const noexcept { return http_status_; }

private:
  long http_status_;
};

// The container types are the port's (include/mupgrade/ports/containers.hpp).
using ports::ContainerInfo;
using ports::ContainerSpec;
using ports::ExecOptions;
using ports::ExecResult;
using ports::Mount;
using ports::PublishedPort;
using ports::NetworkInfo;

struct EngineVersion {
  std::string server_version;
  std::string api_version;  // the one negotiated for this client
};

class DockerEngine : public ports::Containers {
public:
  explicit DockerEngine(std::string socket_path = "/var/run/docker.sock");

  /// Pings the daemon and settles on min(daemon's API, kMaxApiVersion); refuses < kMinApiVersion.
  EngineVersion negotiate();
  const std::string& socket_path() const { return socket_; }

  std::optional<nlohmann::json> inspect_image(const std::string& ref);

  /// The port's image(): id and labels.
  std::optional<ports::ImageInfo> image(const std::string& ref) override;

  std::string create_container(const ContainerSpec& spec) override;  // returns the id
  void start_container(const std::string& id) override;
  void stop_container(const std::string& id, std::chrono::seconds grace) override;
  void kill_container(const std::string& id, const std::string& signal = "SIGKILL") override;
  void remove_container(const std::string& id, bool force = false) override;
  std::optional<ContainerInfo> inspect_container(const std::string& id) override;
  /// Containers carrying every one of `labels` (see label_filters: none may be empty).
  std::vector<ContainerInfo> list_containers(const std::map<std::string, std::string>& labels, bool all = true) override;
  int wait_container(const std::string& id, std::chrono::milliseconds timeout = kApiTimeout) override;
  std::string logs(const std::string& id, int tail_lines = 100) override;

  ExecResult exec(const std::string& container, const ExecOptions& opts) override;
  /// GET /containers/{id}/archive, streamed into GNU tar (src/docker/docker_archive.cpp).
  std::optional<std::uint64_t> copy_from_container(const std::string& container, const std::string& path,
                                                   const std::string& host_dir) override;
  std::optional<std::string> read_container_file(const std::string& container, const std::string& path) override;
  /// GET /containers/{id}/changes.
  std::vector<ports::FileChange> container_changes(const std::string& container) override;

  std::string create_network(const std::string& name, const std::map<std::string, std::string>& labels,
                             bool internal = false) override;
  void connect_network(const std::string& network, const std::string& container,
                       const std::vector<std::string>& aliases = {}) override;
  void disconnect_network(const std::string& network, const std::string& container) override;
  void remove_network(const std::string& name_or_id) override;
  /// Networks carrying every one of `labels` (see label_filters: none may be empty).
  std::vector<NetworkInfo> list_networks(const std::map<std::string, std::string>& labels) override;
  std::optional<nlohmann::json> inspect_network(const std::string& name_or_id);
  /// The port's network(): id, name, internal, labels.
  std::optional<ports::NetworkInfo> network(const std::string& name_or_id) override;

private:
  struct Reply {
    long status = 0;
    std::string body;
    std::map<std::string, std::string> headers;
  };
  using ChunkFn = std::function<void(std::string_view)>;
  Reply call(const std::string& method, const std::string& path, const nlohmann::json* body = nullptr,
             std::chrono::milliseconds timeout = kApiTimeout, ChunkFn on_chunk = {}, bool versioned = true);
  /// HEAD /containers/{id}/archive: the path's stat (X-Docker-Container-Path-Stat), nullopt on 404.
  std::optional<nlohmann::json> path_stat(const std::string& container, const std::string& path);
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
