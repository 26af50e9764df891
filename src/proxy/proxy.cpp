#include "mupgrade/proxy/proxy.hpp"

#include "mupgrade/http/http_client.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <thread>

namespace mupgrade::proxy {

using Clock = std::chrono::steady_clock;

void to_json(nlohmann::json& j, const Backend& b) {
  j = {{"name", b.name}, {"host", b.host}, {"ip", b.ip}, {"port", b.port}};
}

void from_json(const nlohmann::json& j, Backend& b) {
  b.name = j.at("name").get<std::string>();
  b.host = j.at("host").get<std::string>();
  b.ip = j.value("ip", "");
  b.port = j.value("port", 80);
}

std::chrono::microseconds confirm_backend(const ProxySite& site, const std::string& name,
                                          std::chrono::milliseconds timeout) {
  auto start = Clock::now();
  std::string last = "no answer";
  while (Clock::now() - start < timeout) {
    auto r = http::get(site.public_url + "/", site.public_host, std::chrono::milliseconds(2000));
    auto it = r.headers.find("x-mupgrade-set");
    if (r.status > 0 && it != r.headers.end() && it->second == name)
      return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    last = r.status == 0 ? r.transport_error
                         : fmt::format("HTTP {} from backend '{}'", r.status, it == r.headers.end() ? "?" : it->second);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  throw ProxyError(fmt::format("proxy did not send traffic to {} within {} ms (last: {})", name, timeout.count(), last),
                   "check the proxy container's logs and that the set's web container is on the proxy's network");
}

void write_file_atomically(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw Error(fmt::format("cannot write {} ({})", tmp, std::strerror(errno)));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      ::close(fd);
      throw Error(fmt::format("cannot write {} ({})", tmp, std::strerror(errno)));
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error(fmt::format("cannot rename {} to {} ({})", tmp, path, std::strerror(errno)));
  int dir = ::open(std::filesystem::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace mupgrade::proxy
