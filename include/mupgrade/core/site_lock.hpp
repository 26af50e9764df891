#pragma once
// One operation at a time per site: an flock on a file in the state dir. The kernel drops
// the lock when the holder dies (kill -9 included), so a stale lock cannot block recovery.

#include "mupgrade/core/error.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace mupgrade::core {

/// Who holds the lock, as written inside the lock file by the holder.
struct LockHolder {
  int pid = 0;
  std::string host;
  std::string command;
  std::string since;  // UTC ISO 8601
};

class LockHeld : public Error {
public:
  LockHeld(const std::string& site, LockHolder holder);
  const LockHolder& holder() const { return holder_; }

private:
  LockHolder holder_;
};

class SiteLock {
public:
  /// Takes the lock or throws LockHeld naming the holder and since when.
  SiteLock(const std::string& path, const std::string& site, const std::string& command);
  ~SiteLock();
  SiteLock(const SiteLock&) = delete;
  SiteLock& operator=(const SiteLock&) = delete;

  /// Reads the holder without taking the lock (for `status`); nullopt when free.
  static std::optional<LockHolder> probe(const std::string& path);
  /// The holder a killed process left in the file (one that ends cleanly empties it): what was
  /// running when a crash stopped it; nullopt when the lock is held, or the file empty or absent.
  static std::optional<LockHolder> left_by_killed(const std::string& path);

private:
  int fd_ = -1;
};

}  // namespace mupgrade::core
