#pragma once
// What mupgrade knows of a site between operations: the live set and the rollback target.
// Stored as <state_dir>/site.json, written atomically after the proxy confirmed a switch.

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

namespace mupgrade::core {

struct SiteState {
  std::string live_set;
  std::string rollback_set;   // empty when there is no way back
  std::string live_release;   // release string of the live set, for status
  std::string cutover_at;     // when traffic moved to live_set
  nlohmann::json watermark = nlohmann::json::object();  // green's table high-water marks at the switch
};

std::optional<SiteState> load_site_state(const std::string& state_dir);
void save_site_state(const std::string& state_dir, const SiteState& s);

/// Set ids: <UTC yyyymmdd-hhmmss>-<release> (release made safe for container names).
std::string make_set_id(const std::string& release, const std::string& utc_compact_time);
std::string utc_compact_now();

}  // namespace mupgrade::core
