#pragma once
// Port: local commands (host site steps, cp, git, tar).

#include <chrono>
#include <string>
#include <vector>

namespace mupgrade::ports {

struct CommandResult {
  int exit_code = -1;
  bool timed_out = false;  // stopped at the time limit
  std::string output;      // stdout and stderr, interleaved
};

class Commands {
public:
  virtual ~Commands() = default;
  /// Runs argv[0] (an absolute path) with the caller's environment plus `env` ("NAME=value"),
  /// stdin from /dev/null; waits at most `timeout`, then terminates it.
  virtual CommandResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                            std::chrono::seconds timeout) = 0;
  /// Whether `path` names an executable file.
  virtual bool executable(const std::string& path) = 0;
};

}  // namespace mupgrade::ports
