#pragma once
// Local commands (site steps of kind `host`): argv, extra environment, a time limit.

#include <chrono>
#include <string>
#include <vector>

#include "mupgrade/ports/commands.hpp"

namespace mupgrade::process {

using RunResult = ports::CommandResult;

/// Runs argv[0] (an absolute path) with the caller's environment plus `env` ("NAME=value"),
/// stdin from /dev/null; waits at most `timeout`, then terminates it.
RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::chrono::seconds timeout);

/// The port, over run().
class LocalCommands : public ports::Commands {
public:
  RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::chrono::seconds timeout) override {
    return process::run(argv, env, timeout);
  }
  bool executable(const std::string& path) override;
};

}  // namespace mupgrade::process
