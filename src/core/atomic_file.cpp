#include "mupgrade/core/atomic_file.hpp"

#include "mupgrade/core/error.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sys/stat.h>

namespace mupgrade::core {

void write_file_atomically(const std::string& path, const std::string& content, unsigned mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw Error(fmt::format("cannot write {} ({})", tmp, std::strerror(errno)));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      int err = errno;
      ::close(fd);
      throw Error(fmt::format("cannot write {} ({})", tmp, std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    throw Error(fmt::format("cannot write {} ({})", tmp, std::strerror(err)));
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    throw Error(fmt::format("cannot rename {} to {} ({})", tmp, path, std::strerror(errno)));
  int dir = ::open(std::filesystem::path(path).parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

}  // namespace mupgrade::core

namespace mupgrade::core {

std::optional<std::string> read_state_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

void ensure_state_dir(const std::string& path, unsigned mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error(fmt::format("cannot create {} ({})", path, ec.message()), "check the state_dir in the site config");
  if (mode != 0755) ::chmod(path.c_str(), mode);
}

std::vector<std::string> state_files(const std::string& dir, const std::string& suffix) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) out.push_back(e.path().string());
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

void remove_state_file(const std::string& path) { ::unlink(path.c_str()); }

void remove_state_dir(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) throw Error(fmt::format("cannot remove {} ({})", path, ec.message()), "remove it by hand");
}

std::string make_scratch_state_dir(const std::string& prefix) {
  std::string dir = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(dir.data())) throw Error(fmt::format("cannot make a temporary dir {} ({})", dir, std::strerror(errno)));
  return dir;
}

}  // namespace mupgrade::core
