#include "mupgrade/core/site_state.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/error.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ctime>
#include <fstream>

namespace mupgrade::core {

std::optional<SiteState> load_site_state(const std::string& state_dir) {
  std::ifstream in(state_dir + "/site.json");
  if (!in) return std::nullopt;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw Error(fmt::format("{}/site.json is damaged ({})", state_dir, e.what()),
                "restore it from the last journal or run 'mupgrade adopt' again");
  }
  SiteState s;
  s.live_set = j.value("live_set", "");
  s.rollback_set = j.value("rollback_set", "");
  s.live_release = j.value("live_release", "");
  s.cutover_at = j.value("cutover_at", "");
  s.watermark = j.value("watermark", nlohmann::json::object());
  return s;
}

void save_site_state(const std::string& state_dir, const SiteState& s) {
  nlohmann::json j = {{"version", 1}, {"live_set", s.live_set}, {"rollback_set", s.rollback_set},
                      {"live_release", s.live_release}, {"cutover_at", s.cutover_at}, {"watermark", s.watermark}};
  write_file_atomically(state_dir + "/site.json", j.dump(2) + "\n", 0600);
}

std::string make_set_id(const std::string& release, const std::string& when) {
  std::string safe;
  for (char c : release) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-') safe += c;
    else if (c == ' ' || c == '+') break;  // "4.5 (Build: ...)" -> "4.5"
  }
  return when + "-" + (safe.empty() ? "set" : safe);
}

std::string utc_compact_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return buf;
}

}  // namespace mupgrade::core
