#pragma once
// The reverse proxy in front of the live set: which set gets traffic, and the switch.

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/docker/docker_engine.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace mupgrade::proxy {

/// How long the switch may wait for the new backend to answer through the proxy.
inline constexpr std::chrono::milliseconds kConfirmTimeout{10000};

/// A set's web container as the proxy reaches it on their shared network.
struct Backend {
  std::string name;  // the set id; the web container echoes it in X-Mupgrade-Set
  std::string host;  // container name (resolved by the proxy at start-up)
  std::string ip;    // current address on the proxy's network (runtime switch)
  int port = 80;
};
void to_json(nlohmann::json& j, const Backend& b);
void from_json(const nlohmann::json& j, Backend& b);

/// Where the proxy is: its container, the host dir mounted as its config dir, and the
/// loopback URL plus public Host name that reach it.
struct ProxySite {
  std::string container;
  std::string config_dir;
  std::string public_url;   // e.g. http://127.0.0.1:18080
  std::string public_host;  // e.g. moodle.example.edu
};

struct SwitchReport {
  std::optional<Backend> previous;
  std::chrono::microseconds switched{0};   // from first command to the proxy accepting it
  std::chrono::microseconds confirmed{0};  // until the new backend answered through the proxy
};

class ProxyError : public Error {
public:
  using Error::Error;
};

class Proxy {
public:
  virtual ~Proxy() = default;
  /// Writes a config that sends traffic to `initial`, before the proxy container starts.
  virtual void install(const Backend& initial) = 0;
  /// The backend traffic goes to, as last confirmed; nullopt before install.
  virtual std::optional<Backend> current() const = 0;
  /// Sends new requests to `target` without dropping any, confirms through the public URL,
  /// and persists the choice so a proxy restart keeps it. When the confirmation fails, the
  /// previous backend serves again before the error is thrown.
  virtual SwitchReport switch_to(const Backend& target) = 0;
  virtual std::string kind() const = 0;
};

std::unique_ptr<Proxy> make_haproxy(docker::DockerEngine& engine, ProxySite site);
std::unique_ptr<Proxy> make_nginx(docker::DockerEngine& engine, ProxySite site);

/// Polls the public URL until a response carries X-Mupgrade-Set == `name`.
std::chrono::microseconds confirm_backend(const ProxySite& site, const std::string& name,
                                          std::chrono::milliseconds timeout = kConfirmTimeout);

}  // namespace mupgrade::proxy
