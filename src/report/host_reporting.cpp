#include "mupgrade/report/host_reporting.hpp"

#include "mupgrade/core/atomic_file.hpp"

#include <syslog.h>

#include <future>
#include <memory>
#include <thread>

namespace mupgrade::report {

SyslogSink system_syslog() {
  return [](int priority, const std::string& line) {
    ::openlog("mupgrade", LOG_PID, LOG_DAEMON);
    ::syslog(priority, "%s", line.c_str());
    ::closelog();
  };
}

std::string HostReporting::write_textfile(const std::string& path, const std::string& text) noexcept {
  try {
    auto slash = path.rfind('/');
    if (slash != std::string::npos && slash > 0) core::ensure_state_dir(path.substr(0, slash));
    core::write_file_atomically(path, text, 0644);
    return {};
  } catch (const std::exception& e) {
    return e.what();
  }
}

std::optional<std::string> HostReporting::read_textfile(const std::string& path) noexcept {
  try {
    return core::read_state_file(path);
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

void HostReporting::summary(const std::string& line, bool failed) noexcept {
  try {
    auto done = std::make_shared<std::promise<void>>();
    auto finished = done->get_future();
    std::thread([sink = sink_, line, failed, done] {
      try {
        sink(failed ? LOG_ERR : LOG_INFO, line);
      } catch (...) {
        // A log that cannot take the line changes nothing for the operation.
      }
      done->set_value();
    }).detach();
    finished.wait_for(timeout_);
  } catch (...) {
    // No thread (resources exhausted): the summary is lost, the operation is not.
  }
}

}  // namespace mupgrade::report
