#pragma once
// The files `mupgrade init` writes for a new site, as text: the site's YAML config (the
// README's commented shape) and the first set's config.php. Pure: nothing is written here.

#include "mupgrade/core/site_config.hpp"

#include <string>
#include <string_view>

namespace mupgrade::core {

/// A PHP single-quoted string literal holding `s` (quotes and backslashes escaped).
std::string php_quote(const std::string& s);

/// config.php of a set as mupgrade makes every set's: dbhost 'db' (the DB's alias on the set's
/// network), wwwroot the public URL, dataroot where the web container mounts moodledata.
/// `db_password` is the only secret in it: the file must be readable by the web user only.
std::string render_config_php(const SiteConfig& cfg, const std::string& db_password);

/// The site's config as `config::load_site_config` reads it back, with a comment on each key.
std::string render_site_yaml(const SiteConfig& cfg, std::string_view written_by = "init");  // "init" | "adopt"

/// Port of an http(s) URL: the explicit one, else 80 or 443; 0 when it is not a valid port.
int port_of_url(const std::string& url);

}  // namespace mupgrade::core
