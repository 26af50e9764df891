#include "mupgrade/core/error.hpp"

#include <fmt/format.h>

namespace mupgrade {

Error::Error(std::string what, std::string hint) : std::runtime_error(std::move(what)), hint_(std::move(hint)) {}

std::string describe_error(const std::exception& e) {
  std::string out = fmt::format("mupgrade: error: {}", e.what());
  if (const auto* err = dynamic_cast<const Error*>(&e); err && !err->hint().empty()) {
    out += fmt::format("\nmupgrade: hint: {}", err->hint());
  }
  return out;
}

}  // namespace mupgrade
