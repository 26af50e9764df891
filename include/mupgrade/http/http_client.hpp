#pragma once
// Plain HTTP requests for health checks and proxy confirmation (libcurl underneath).

#include <chrono>
#include <map>
#include <string>

#include "mupgrade/ports/http.hpp"

namespace mupgrade::http {

/// How long one health-check request may take before it counts as failed.
inline constexpr std::chrono::milliseconds kDefaultRequestTimeout{5000};

using Response = ports::HttpResponse;

/// GET `url`, optionally with a `Host` header (to reach a set directly with the public name).
/// Never follows redirects: a redirect is an answer worth seeing.
Response get(const std::string& url, const std::string& host_header = {},
             std::chrono::milliseconds timeout = kDefaultRequestTimeout);

/// The port, over get().
class CurlHttp : public ports::Http {
public:
  Response get(const std::string& url, const std::string& host_header, std::chrono::milliseconds timeout) override {
    return http::get(url, host_header, timeout);
  }
};

}  // namespace mupgrade::http
