#include "mupgrade/core/set_layout.hpp"

#include <fmt/format.h>

namespace mupgrade::core {

bool is_clone(const std::string& set) { return set.rfind(kClonePrefix, 0) == 0; }

SetPaths SetLayout::paths(const std::string& set) const {
  std::string dir = (is_clone(set) ? cfg_.clones_dir() : cfg_.sets_dir()) + "/" + set;
  return {dir, dir + "/db", dir + "/moodledata", dir + "/code", dir + "/cache"};
}

std::string SetLayout::db_container(const std::string& set) const { return fmt::format("mupgrade-{}-{}-db", cfg_.site, set); }
std::string SetLayout::web_container(const std::string& set) const { return fmt::format("mupgrade-{}-{}-web", cfg_.site, set); }
std::string SetLayout::cache_container(const std::string& set) const { return fmt::format("mupgrade-{}-{}-cache", cfg_.site, set); }
std::string SetLayout::verify_container(const std::string& set) const { return web_container(set) + "-verify"; }
std::string SetLayout::set_network(const std::string& set) const { return fmt::format("mupgrade-{}-{}", cfg_.site, set); }

std::map<std::string, std::string> SetLayout::labels(const std::string& set, const std::string& role) const {
  std::map<std::string, std::string> l = {{"mupgrade.site", cfg_.site}, {"mupgrade.set", set}};
  if (!role.empty()) l["mupgrade.role"] = role;
  return l;
}

std::string SetLayout::clone_url() const {
  std::string host = cfg_.public_host, port;
  if (auto colon = host.rfind(':'); colon != std::string::npos) port = host.substr(colon);
  std::string scheme = cfg_.public_url.substr(0, cfg_.public_url.find("://"));
  auto path_at = cfg_.public_url.find('/', scheme.size() + 3);
  std::string path = path_at == std::string::npos ? "" : cfg_.public_url.substr(path_at);
  return scheme + "://" + std::string(kCloneHost) + port + path;
}

std::string SetLayout::host_header(const std::string& set) const {
  return is_clone(set) ? host_of_url(clone_url()) : cfg_.public_host;
}

int SetLayout::db_port() const { return engine_of(cfg_.db.kind).port; }

std::string SetLayout::db_data_dir() const { return std::string(engine_of(cfg_.db.kind).data_dir); }

}  // namespace mupgrade::core
