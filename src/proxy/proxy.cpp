#include "mupgrade/proxy/proxy.hpp"

#include "mupgrade/core/poll.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>

#include <thread>

namespace mupgrade::proxy {

using Clock = std::chrono::steady_clock;

std::unique_ptr<Proxy> DockerProxies::open(const ProxySite& site) {
  return site.kind == core::ProxyKind::nginx ? make_nginx(engine_, site) : make_haproxy(engine_, site);
}

std::string maintenance_body() {
  return "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
         "<h1>This site is being upgraded and will be back in a moment.</h1></body></html>\n";
}

void require_running(docker::DockerEngine& engine, const ProxySite& site) {
  auto info = engine.inspect_container(site.container);
  if (!info) throw ProxyError(fmt::format("the proxy container {} does not exist", site.container), "create and start it (README, 'proxy init')");
  if (!info->running)
    throw ProxyError(fmt::format("the proxy container {} is not running ({})", site.container, info->status), "docker start " + site.container);
}

std::chrono::microseconds confirm_backend(const ProxySite& site, const std::string& name,
                                          std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  try {
    core::poll_until(
        [&](std::string& last) {
          auto r = http::get(site.public_url + core::kSwitchProbePath, site.public_host, std::chrono::milliseconds(2000));
          auto it = r.headers.find("x-mupgrade-set");
          if (r.status > 0 && it != r.headers.end() && it->second == name) return true;
          last = r.status == 0 ? r.transport_error : fmt::format("last: HTTP {} from backend '{}'", r.status, it == r.headers.end() ? "?" : it->second);
          return false;
        },
        timeout, fmt::format("proxy did not send traffic to {}", name), {}, std::chrono::milliseconds(2));
  } catch (const Error& e) {
    throw ProxyError(e.what(), "check the proxy container's logs and that the set's web container is on the proxy's network");
  }
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
}

}  // namespace mupgrade::proxy
