#pragma once
// RAII for one curl easy handle and its header list; shared by the HTTP and Docker clients.

#include <curl/curl.h>

#include <memory>
#include <string>

namespace mupgrade::http {

struct CurlGlobal {
  CurlGlobal();  // curl_global_init once per process
};

class CurlEasy {
public:
  CurlEasy();
  ~CurlEasy();
  CurlEasy(const CurlEasy&) = delete;
  CurlEasy& operator=(const CurlEasy&) = delete;

  CURL* get() const { return handle_; }
  void add_header(const std::string& line);
  void apply_headers();

private:
  CURL* handle_;
  curl_slist* headers_ = nullptr;
};

}  // namespace mupgrade::http
