#pragma once
// Port: plain HTTP GETs for health checks and switch confirmation.

#include <chrono>
#include <map>
#include <string>

namespace mupgrade::ports {

struct HttpResponse {
  long status = 0;                             // 0 when no HTTP answer came
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string transport_error;                 // the client's message when status == 0
};

class Http {
public:
  virtual ~Http() = default;
  /// GET `url`, with a `Host` header when given. Never follows redirects.
  virtual HttpResponse get(const std::string& url, const std::string& host_header, std::chrono::milliseconds timeout) = 0;
};

}  // namespace mupgrade::ports
