#pragma once
// Reads a site's YAML config; every error names the file, line and column and what was expected.

#include "mupgrade/core/site_config.hpp"

#include <string>

namespace mupgrade::config {

/// Default location of a site's config.
std::string default_path(const std::string& site);

core::SiteConfig load_site_config(const std::string& path);
core::SiteConfig parse_site_config(const std::string& yaml_text, const std::string& file_for_errors);

}  // namespace mupgrade::config
