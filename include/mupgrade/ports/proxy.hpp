#pragma once
// Port: the reverse proxy in front of the live set: which set gets traffic, and the switch.

#include "mupgrade/core/error.hpp"
#include "mupgrade/core/kinds.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace mupgrade::ports {

/// A set's web container as the proxy reaches it on their shared network.
struct Backend {
  std::string name;  // the set id; answers carry it in X-Mupgrade-Set
  std::string host;  // container name (resolved by the proxy at start-up)
  std::string ip;    // current address on the proxy's network (runtime switch)
  int port = 80;
};
void to_json(nlohmann::json& j, const Backend& b);
void from_json(const nlohmann::json& j, Backend& b);

/// Where the proxy is: its container, the host dir mounted as its config dir, and the
/// loopback URL plus public Host name that reach it.
struct ProxySite {
  core::ProxyKind kind = core::ProxyKind::haproxy;
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
  /// Throws naming the problem when the proxy cannot switch now (container stopped, runtime
  /// API not answering): checked before a window starts, so a window never ends at a dead proxy.
  virtual void check_ready() = 0;
  /// Sends new requests to `target` without dropping any, confirms through the public URL,
  /// and persists the choice so a proxy restart keeps it. When the confirmation fails, the
  /// previous backend serves again before the error is thrown.
  virtual SwitchReport switch_to(const Backend& target) = 0;
  /// The window's hold: the proxy stops sending requests to any set and answers 503 with
  /// Retry-After itself (as Moodle's maintenance page does); requests already running on the
  /// current backend finish. A switch ends it; it survives the process that made it (recovery
  /// releases it). False when the driver cannot hold.
  virtual bool hold() = 0;
  /// Ends a hold: traffic to the current backend again. Idempotent.
  virtual void release_hold() = 0;
  /// Requests running on the current backend now, 0 once none does (nginx, during a hold: its
  /// old workers still finishing requests); nullopt when the driver cannot tell.
  virtual std::optional<int> in_flight() = 0;
  virtual std::string kind() const = 0;
};

/// Makes the driver for a site's proxy (HAProxy or nginx).
class Proxies {
public:
  virtual ~Proxies() = default;
  virtual std::unique_ptr<Proxy> open(const ProxySite& site) = 0;
};

}  // namespace mupgrade::ports
