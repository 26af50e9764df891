#pragma once
// Local commands (site steps of kind `host`): argv, extra environment, a time limit.

#include <chrono>
#include <string>
#include <vector>

namespace mupgrade::process {

struct RunResult {
  int exit_code = -1;
  bool timed_out = false;  // stopped at the time limit
  std::string output;      // stdout and stderr, interleaved
};

/// Runs argv[0] (an absolute path) with the caller's environment plus `env` ("NAME=value"),
/// stdin from /dev/null; waits at most `timeout`, then terminates it.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::chrono::seconds timeout);

}  // namespace mupgrade::process
