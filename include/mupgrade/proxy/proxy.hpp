#pragma once
// The reverse proxy in front of the live set: which set gets traffic, and the switch.

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/docker/docker_engine.hpp"
#include "mupgrade/ports/proxy.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace mupgrade::proxy {

/// How long the switch may wait for the new backend to answer through the proxy.
inline constexpr std::chrono::milliseconds kConfirmTimeout{10000};

// The proxy's types and interface are the port's (include/mupgrade/ports/proxy.hpp).
using ports::Backend;
using ports::Proxy;
using ports::ProxyError;
using ports::ProxySite;
using ports::SwitchReport;

std::unique_ptr<Proxy> make_haproxy(docker::DockerEngine& engine, ProxySite site);
std::unique_ptr<Proxy> make_nginx(docker::DockerEngine& engine, ProxySite site);

/// The drivers, for the operations: HAProxy or nginx by ProxySite::kind.
class DockerProxies : public ports::Proxies {
public:
  explicit DockerProxies(docker::DockerEngine& engine) : engine_(engine) {}
  std::unique_ptr<Proxy> open(const ProxySite& site) override;

private:
  docker::DockerEngine& engine_;
};

/// What users get while a proxy holds traffic (the window), from either driver: the 503 with
/// `Retry-After: 300` that Moodle's CLI maintenance sends, and this page.
inline constexpr int kMaintenanceRetryAfterS = 300;
std::string maintenance_body();

/// Throws when the proxy container is not running.
void require_running(docker::DockerEngine& engine, const ProxySite& site);

/// Polls the public URL until a response carries X-Mupgrade-Set == `name`.
std::chrono::microseconds confirm_backend(const ProxySite& site, const std::string& name,
                                          std::chrono::milliseconds timeout = kConfirmTimeout);

}  // namespace mupgrade::proxy
