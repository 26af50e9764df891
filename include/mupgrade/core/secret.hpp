#pragma once
// A password that cannot be logged by accident: formatting it prints a mask.

#include <fmt/format.h>

#include <string>

namespace mupgrade {

class Secret {
public:
  Secret() = default;
  explicit Secret(std::string value) : value_(std::move(value)) {}
  /// The only way to the plain text: callers that pass it to a client library say so.
  const std::string& reveal() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }

private:
  std::string value_;
};

}  // namespace mupgrade

template <>
struct fmt::formatter<mupgrade::Secret> : fmt::formatter<std::string_view> {
  auto format(const mupgrade::Secret&, fmt::format_context& ctx) const {
    return fmt::formatter<std::string_view>::format("********", ctx);
  }
};
