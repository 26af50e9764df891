#pragma once
// The one error type that reaches the user: what failed, why, and what to do next.

#include <stdexcept>
#include <string>

namespace mupgrade {

/// An abort caught once at the top and printed as `mupgrade: error: <what> (<cause>)`.
/// `hint` is the next step a person can take; it may be empty.
class Error : public std::runtime_error {
public:
  Error(std::string what, std::string hint = {});
  const std::string& hint() const noexcept { return hint_; }

private:
  std::string hint_;
};

/// Bad input (arguments, config): reported the same way, exit code 2, nothing changed.
class UsageError : public Error {
public:
  using Error::Error;
};

/// Formats an exception as the one-line message plus an optional hint line.
std::string describe_error(const std::exception& e);

}  // namespace mupgrade
