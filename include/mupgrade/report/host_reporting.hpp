#pragma once
// The Reporting port on this host: textfiles written atomically on the local filesystem, the
// summary line to syslog(3) with ident "mupgrade" (journald keeps it: `journalctl -t mupgrade`).

#include "mupgrade/ports/reporting.hpp"

#include <chrono>
#include <functional>

namespace mupgrade::report {

/// How long a summary may hold up the operation's end when the log socket does not take it.
inline constexpr std::chrono::milliseconds kSyslogTimeout{1000};

/// Where summary lines go: (syslog priority, line). The default is syslog(3).
using SyslogSink = std::function<void(int priority, const std::string& line)>;
SyslogSink system_syslog();

class HostReporting : public ports::Reporting {
public:
  explicit HostReporting(SyslogSink sink = system_syslog(), std::chrono::milliseconds timeout = kSyslogTimeout)
      : sink_(std::move(sink)), timeout_(timeout) {}
  std::string write_textfile(const std::string& path, const std::string& text) noexcept override;
  std::optional<std::string> read_textfile(const std::string& path) noexcept override;
  /// Hands the line to the sink on a thread of its own and waits at most `timeout`: a log
  /// socket that does not drain leaves that thread behind, not the operation.
  void summary(const std::string& line, bool failed) noexcept override;

private:
  SyslogSink sink_;
  std::chrono::milliseconds timeout_;
};

}  // namespace mupgrade::report
