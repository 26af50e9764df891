// The ports' few pure helpers (names, counts, JSON forms): no I/O here.

#include "mupgrade/ports/ports.hpp"

#include <fmt/format.h>

namespace mupgrade::ports {

long WriteCount::total() const {
  long n = logstore_writes;
  for (auto& [t, v] : per_table.items()) n += v.get<long>();
  return n;
}

std::string WriteCount::describe(const std::string& prefix) const {
  std::string out = fmt::format("{} logged web/ws writes", logstore_writes);
  for (auto& [t, v] : per_table.items())
    if (v.get<long>() > 0) out += fmt::format(", {} new rows in {}{}", v.get<long>(), prefix, t);
  return out;
}

void to_json(nlohmann::json& j, const Backend& b) { j = {{"name", b.name}, {"host", b.host}, {"ip", b.ip}, {"port", b.port}}; }

void from_json(const nlohmann::json& j, Backend& b) {
  b.name = j.value("name", "");
  b.host = j.value("host", "");
  b.ip = j.value("ip", "");
  b.port = j.value("port", 80);
}

}  // namespace mupgrade::ports
