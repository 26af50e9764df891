// adopt's discovery of code built into the web image: no volume or bind mount holds Moodle's
// code, so it is looked for in the containers' own files (their image and writable layer),
// read through the Containers port (Docker's archive API: nothing in the container changes).

#include "adopt_discover.hpp"

#include <algorithm>

namespace mupgrade::ops::adopt_detail {

namespace {

// Where images keep Moodle's code (moodlehq's, Bitnami's volume and image, Alpine-style ones).
constexpr const char* kImageCodeDirs[] = {"/var/www/html", "/var/www/moodle", "/srv/moodle", "/bitnami/moodle", "/opt/bitnami/moodle", "/opt/moodle"};
// Apache's default site where Debian's and Alpine's packages keep it: its DocumentRoot.
constexpr const char* kApacheSites[] = {"/etc/apache2/sites-enabled/000-default.conf", "/etc/apache2/httpd.conf"};

// `text` with the ${NAME}s Apache expands from its environment.
std::string expand_env(std::string text, const ports::ContainerInfo& c) {
  for (size_t at; (at = text.find("${")) != std::string::npos;) {
    auto end = text.find('}', at);
    if (end == std::string::npos) break;
    auto v = c.env.find(text.substr(at + 2, end - at - 2));
    text.replace(at, end - at + 1, v == c.env.end() ? "" : v->second);
  }
  return text;
}

// The dirs the container's Moodle code may be in: its Apache DocumentRoots (the dir above a
// 5.1 public/ first), then where images keep it.
std::vector<std::string> image_code_dirs(ports::Containers& containers, const ports::ContainerInfo& c) {
  std::vector<std::string> dirs;
  auto add = [&](std::string d) {
    while (d.size() > 1 && d.back() == '/') d.pop_back();
    if (!d.empty() && d[0] == '/' && std::find(dirs.begin(), dirs.end(), d) == dirs.end()) dirs.push_back(d);
  };
  for (const char* conf : kApacheSites) {
    std::string text = containers.read_container_file(c.name, conf).value_or("");
    for (size_t pos = 0; pos < text.size();) {
      auto nl = std::min(text.find('\n', pos), text.size());
      std::string line = text.substr(pos, nl - pos);
      pos = nl + 1;
      auto k = line.find_first_not_of(" \t");
      if (k == std::string::npos || line.compare(k, 12, "DocumentRoot") != 0) continue;
      auto v = line.find_first_not_of(" \t\"", k + 12);
      if (v == std::string::npos) continue;
      std::string root = expand_env(line.substr(v, line.find_first_of(" \t\"\r", v) - v), c);
      if (root.size() > 7 && root.ends_with("/public")) add(root.substr(0, root.size() - 7));
      add(root);
    }
  }
  for (const char* d : kImageCodeDirs) add(d);
  return dirs;
}

}  // namespace

const ports::ContainerInfo* find_web_in_containers(ports::Containers& containers, const std::vector<ports::ContainerInfo>& all, StackData& code,
                                                    std::string& config_php, std::vector<std::string>& looked) {
  std::vector<const ports::ContainerInfo*> order;
  for (const auto& c : all) order.push_back(&c);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return std::pair{a->running, !a->any_host_ports.empty()} > std::pair{b->running, !b->any_host_ports.empty()};
  });
  for (const auto* c : order)
    for (const auto& dir : image_code_dirs(containers, *c)) {
      if (std::find(looked.begin(), looked.end(), dir) == looked.end()) looked.push_back(dir);
      auto php = containers.read_container_file(c->name, dir + "/config.php");
      if (!php || !(containers.read_container_file(c->name, dir + "/version.php") || containers.read_container_file(c->name, dir + "/public/version.php")))
        continue;
      code = {dir, "", StackData::kInImage, 0};
      config_php = *php;
      return c;
    }
  return nullptr;
}

}  // namespace mupgrade::ops::adopt_detail
