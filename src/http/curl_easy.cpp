#include "curl_easy.hpp"

#include "mupgrade/core/error.hpp"

namespace mupgrade::http {

CurlGlobal::CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }

CurlEasy::CurlEasy() {
  static CurlGlobal global;
  handle_ = curl_easy_init();
  if (!handle_) throw Error("curl_easy_init() failed");
  curl_easy_setopt(handle_, CURLOPT_NOSIGNAL, 1L);
}

CurlEasy::~CurlEasy() {
  curl_slist_free_all(headers_);
  curl_easy_cleanup(handle_);
}

void CurlEasy::add_header(const std::string& line) { headers_ = curl_slist_append(headers_, line.c_str()); }

void CurlEasy::apply_headers() {
  if (headers_) curl_easy_setopt(handle_, CURLOPT_HTTPHEADER, headers_);
}

}  // namespace mupgrade::http
