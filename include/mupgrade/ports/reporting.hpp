#pragma once
// Port: what an operation tells the admin's tools besides its own output: the Prometheus
// textfile (for node_exporter) and one summary line to syslog/journald (`journalctl -t
// mupgrade`). Neither may fail or hold up an operation: the adapter reports its own trouble
// through the return value, never by throwing.

#include <optional>
#include <string>

namespace mupgrade::ports {

class Reporting {
public:
  virtual ~Reporting() = default;
  /// Writes the textfile atomically (temporary file, rename), mode 0644, creating its directory.
  /// Returns an empty string, or what went wrong.
  virtual std::string write_textfile(const std::string& path, const std::string& text) noexcept = 0;
  /// The textfile as it is now; nullopt when missing or unreadable.
  virtual std::optional<std::string> read_textfile(const std::string& path) noexcept = 0;
  /// One line to the system log (ident "mupgrade"), error priority when `failed`. Never blocks.
  virtual void summary(const std::string& line, bool failed) noexcept = 0;
};

}  // namespace mupgrade::ports
