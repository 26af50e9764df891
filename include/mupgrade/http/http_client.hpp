#pragma once
// Plain HTTP requests for health checks and proxy confirmation (libcurl underneath).

#include <chrono>
#include <map>
#include <string>

namespace mupgrade::http {

/// How long one health-check request may take before it counts as failed.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{5000};

struct Response {
  long status = 0;                            // 0 when no HTTP answer came
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
  std::string transport_error;                // curl's message when status == 0
};

/// GET `url`, optionally with a `Host` header (to reach a set directly with the public name).
/// Never follows redirects: a redirect is an answer worth seeing.
Response get(const std::string& url, const std::string& host_header = {},
             std::chrono::milliseconds timeout = kDefaultRequestTimeout);

}  // namespace mupgrade::http
