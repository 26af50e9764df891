#pragma once
// Every key of a site config (/etc/mupgrade/SITE.yml), once: the loader accepts exactly these
// (src/config/load.cpp asks `keys_in` for each mapping), and mupgrade.yml(5) is rendered from
// them (`render_config_man`), so the manual cannot drift from what the loader reads.

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mupgrade::core {

struct ConfigKey {
  std::string_view section;  // "" (top level), "db", "target.git", "steps[]" (each site step)...
  std::string_view key;
  std::string_view type;     // string, path, url, integer, boolean, mapping, list
  std::string_view fallback; // the default as a person reads it; "required" when there is none
  std::string_view what;
};

std::span<const ConfigKey> config_keys();
/// The keys a mapping of `section` may hold, in the table's order.
std::vector<std::string> keys_in(std::string_view section);
/// How the loader's messages name a section ("the site config", "a site step", "db").
std::string section_title(std::string_view section);

/// Text as roff reads it literally (backslashes, hyphens, a leading dot or quote), for the man pages.
std::string roff_escape(std::string_view s);
/// mupgrade.yml(5) in roff, for `version` (e.g. "0.1.0").
std::string render_config_man(std::string_view version);

/// A complete example site config (the man page's EXAMPLE and the packaged example file).
std::string_view example_site_config();

}  // namespace mupgrade::core
