#pragma once
// The one waiting loop: ask until the answer is yes or the named timeout passes, then say so.

#include "mupgrade/core/error.hpp"

#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace mupgrade::core {

/// Calls `done` until it returns true; throws Error(`what` + the last `why`, `hint`) when
/// `timeout` passes first. Never gives up silently.
inline void poll_until(const std::function<bool(std::string& why)>& done, std::chrono::milliseconds timeout,
                       const std::string& what, const std::string& hint = {},
                       std::chrono::milliseconds interval = std::chrono::milliseconds(10)) {
  auto until = std::chrono::steady_clock::now() + timeout;
  std::string why;
  for (;;) {
    if (done(why)) return;
    if (std::chrono::steady_clock::now() >= until)
      throw Error(what + " within " + std::to_string(timeout.count()) + " ms" + (why.empty() ? "" : " (" + why + ")"), hint);
    std::this_thread::sleep_for(interval);
  }
}

}  // namespace mupgrade::core
