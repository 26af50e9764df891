#include "mupgrade/core/site_config.hpp"

namespace mupgrade::core {

std::string host_of_url(const std::string& url) {
  std::string rest;
  if (url.rfind("http://", 0) == 0) rest = url.substr(7);
  else if (url.rfind("https://", 0) == 0) rest = url.substr(8);
  else return {};
  auto slash = rest.find('/');
  std::string host = rest.substr(0, slash);
  return host;
}

}  // namespace mupgrade::core
