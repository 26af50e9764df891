#include "mupgrade/core/site_lock.hpp"

#include "mupgrade/core/journal.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mupgrade::core {

namespace {

LockHolder read_holder(int fd) {
  std::string text;
  char buf[1024];
  ssize_t n;
  ::lseek(fd, 0, SEEK_SET);
  while ((n = ::read(fd, buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  LockHolder h;
  try {
    auto j = nlohmann::json::parse(text);
    h.pid = j.value("pid", 0);
    h.host = j.value("host", "");
    h.command = j.value("command", "");
    h.since = j.value("since", "");
  } catch (const nlohmann::json::exception&) {
  }
  return h;
}

}  // namespace

LockHeld::LockHeld(const std::string& site, LockHolder holder)
    : Error(fmt::format("site {} is busy: '{}' (pid {} on {}) holds its lock since {}", site, holder.command, holder.pid,
                        holder.host, holder.since),
            holder.command.find("rehearse") != std::string::npos
                ? fmt::format("a rehearsal holds the lock so that its snapshot of production and a cutover never overlap; wait for it, or stop it (kill {}): 'mupgrade prune' (or the next rehearse) then restores production's DB settings and removes its clone", holder.pid)
                : "wait for it to finish; operations on one site never run at the same time"),
      holder_(std::move(holder)) {}

SiteLock::SiteLock(const std::string& path, const std::string& site, const std::string& command) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(fmt::format("cannot open lock file {} ({})", path, std::strerror(errno)));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    LockHolder h = read_holder(fd_);
    ::close(fd_);
    fd_ = -1;
    throw LockHeld(site, h);
  }
  char host[256] = {};
  ::gethostname(host, sizeof(host) - 1);
  std::string body = nlohmann::json{{"pid", ::getpid()}, {"host", host}, {"command", command}, {"since", utc_now_iso()}}.dump() + "\n";
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, body.data(), body.size(), 0) < 0) {
    // The lock is held either way; the holder text is only for messages.
  }
}

SiteLock::~SiteLock() {
  if (fd_ >= 0) {
    (void)!::ftruncate(fd_, 0);
    ::close(fd_);
  }
}

std::optional<LockHolder> SiteLock::probe(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<LockHolder> out;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) out = read_holder(fd);
  else ::flock(fd, LOCK_UN);
  ::close(fd);
  return out;
}

std::optional<LockHolder> SiteLock::left_by_killed(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<LockHolder> out;
  if (::flock(fd, LOCK_SH | LOCK_NB) == 0) {
    if (auto h = read_holder(fd); h.pid != 0) out = h;
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
  return out;
}

}  // namespace mupgrade::core
