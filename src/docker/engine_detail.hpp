#pragma once
// What the Docker adapter's files share (docker_engine.cpp, docker_archive.cpp).

#include <string>

namespace mupgrade::docker {

/// `s` escaped for a URL's path or query.
std::string url_escape(const std::string& s);

}  // namespace mupgrade::docker
