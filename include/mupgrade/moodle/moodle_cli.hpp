#pragma once
// Runs Moodle's admin/cli scripts inside a web container, as the web server user, and turns
// their exit codes and output into typed results (see shared/notes/moodle-cli-contract.md).

#include "mupgrade/core/error.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/ports/containers.hpp"
#include "mupgrade/moodle/upgrade_output.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mupgrade::moodle {

/// Default limits: quick scripts, and the upgrade itself (a big site needs minutes).
inline constexpr std::chrono::seconds kCliTimeout{120};
inline constexpr std::chrono::seconds kUpgradeTimeout{3600};

/// Where the code sits in the container and whether it uses Moodle 5.1's public/ layout.
/// (core::CodeLayout decides the paths; this adds where the code is mounted.)
struct CodeLayout {
  std::string code_root = core::kContainerCodeRoot;
  bool public_dir = false;
  std::string web_root() const { return core::CodeLayout{public_dir}.web_root(code_root); }
  std::string script(const std::string& name) const { return core::CodeLayout{public_dir}.cli_script(name); }
};

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  bool timed_out = false;
  std::chrono::milliseconds duration{0};
};

/// A script failed in a way the caller did not ask about: bootstrap, DB down, upgrade lock.
class MoodleCliError : public Error {
public:
  MoodleCliError(std::string what, CliRun run, std::string hint = {})
      : Error(std::move(what), std::move(hint)), run_(std::move(run)) {}
  const CliRun& run() const { return run_; }

private:
  CliRun run_;
};

enum class PendingState { up_to_date, pending, downgrade_refused };

struct UpgradeProgress {
  std::string component;  // the component being upgraded now ("core" first)
  std::chrono::milliseconds elapsed{0};
  std::string line;       // the line just printed
};

struct UpgradeResult {
  bool ok = false;
  int exit_code = -1;
  UpgradeSummary summary;
  std::chrono::milliseconds duration{0};
  std::string output;  // stdout then stderr, ANSI codes removed
};

enum class CheckLevel { ok = 0, warning = 1, critical = 2, unknown = 3 };

struct CheckRun {
  CheckLevel level = CheckLevel::unknown;
  std::string output;
};

class MoodleCli {
public:
  MoodleCli(ports::Containers& engine, std::string container, CodeLayout layout, std::string user = "www-data");

  /// Looks for version.php under <code_root>/public (Moodle 5.1+) or at the root.
  static CodeLayout detect_layout(ports::Containers& engine, const std::string& container,
                                  const std::string& code_root = "/var/www/moodle");

  /// Runs one script with arguments; returns whatever it did (no interpretation).
  /// `php_options`: `-d name=value` settings for this run's PHP, before the script.
  CliRun run(const std::string& script, const std::vector<std::string>& args,
             std::chrono::milliseconds timeout = kCliTimeout, ports::LineFn on_line = {},
             const std::vector<std::string>& php_options = {});

  void maintenance_enable();
  void maintenance_disable();
  bool maintenance_enabled();

  PendingState upgrade_pending();
  /// upgrade.php --is-maintenance-required (Moodle 4.2+): true when the upgrade puts the site in
  /// maintenance (exit 2), false when not (exit 3) or nothing is pending (0); nullopt when the
  /// release does not know the option (before 4.2).
  std::optional<bool> maintenance_required();
  /// upgrade.php's own checks before its question (environment, plugin check), answered "n":
  /// the plugins whose requirements the release refuses ("Dependencies check failed for ...").
  /// Nothing is changed.
  std::vector<std::string> refused_plugins();
  /// uninstall_plugins.php --show-missing: plugins the DB registers and the code tree lacks.
  std::vector<std::string> missing_plugins();
  /// upgrade.php --non-interactive --lang=en, with each line passed to `on_progress`.
  UpgradeResult upgrade(const std::function<void(const UpgradeProgress&)>& on_progress = {},
                        std::chrono::milliseconds timeout = kUpgradeTimeout);
  /// install_database.php --agree-license --lang=en for the config.php in place. Moodle takes
  /// the admin password only as --adminpass, and a container's processes show in the host's
  /// `ps`: so it is read from `password_file` (a path in the container, readable by the web
  /// user), which a fixed PHP prelude deletes and appends to the script's argv. Throws on failure.
  CliRun install_database(const std::string& password_file, const std::string& fullname, const std::string& shortname,
                          std::chrono::milliseconds timeout);
  void purge_caches();

  std::optional<std::string> cfg_get(const std::string& name, const std::string& component = {});
  void cfg_set(const std::string& name, const std::string& value, const std::string& component = {});

  CheckRun checks(const std::string& filter = {});
  /// Nullopt when the schema matches; otherwise the differences Moodle listed.
  std::optional<std::string> schema_differences();

  /// Moodle 4.5 (MDL-66151) keeps a Redis session as a hash `<prefix>session_<sid>` (user id,
  /// data, times) and `<prefix>user_<userid>`; before 4.5 Redis held only the data, a string
  /// `<prefix><sid>`, and the record was a row of {sessions}. Moodle's upgrade converts none, so
  /// an upgrade across 4.5 logs every user out. Run with the upgraded code (only code of 4.5 or
  /// later changes anything), this writes the new shape of every old session that Redis still
  /// holds, with its remaining lifetime, in the Redis config.php names, and only when that is
  /// `redis_host` (the set's own). Reads config.php only (no Moodle bootstrap): milliseconds.
  /// Returns the program's one line ("carried N session(s) ..." or "skipped: why").
  std::string carry_redis_sessions(const std::string& redis_host);

  /// Disables cron and waits for running tasks; false when they did not stop in time.
  bool cron_disable_wait(std::chrono::seconds wait);
  void cron_enable();

  const CodeLayout& layout() const { return layout_; }

private:
  [[noreturn]] void fail(const std::string& script, const CliRun& r);
  CliRun run_expect(const std::string& script, const std::vector<std::string>& args, std::initializer_list<int> ok);
  /// `php -r program -- args...` in the code root as the web user; fails as `what` unless it exits 0.
  CliRun run_program(const std::string& what, const std::string& program, const std::vector<std::string>& args,
                     std::chrono::milliseconds timeout);

  ports::Containers& engine_;
  std::string container_;
  CodeLayout layout_;
  std::string user_;
};

}  // namespace mupgrade::moodle
