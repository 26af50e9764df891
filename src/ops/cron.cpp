// `mupgrade cron`: Moodle's admin/cli/cron.php in the live set's web container, whatever it is
// called after cutovers, for the host's cron every minute. It never holds the site lock (a
// cron pass of minutes must not hold up a cutover) and never runs in a window: the cutover's
// drain-cron step disables Moodle's cron before it and cron-on enables it after.

#include "mupgrade/ops/operations.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/journal.hpp"
#include "mupgrade/core/site_lock.hpp"

#include <fmt/format.h>

namespace mupgrade::ops {

namespace {
// Moodle >= 4.2 keeps cron.php alive for minutes ($CFG->cron_keepalive, 3 by default): generous.
constexpr std::chrono::minutes kCronRunTimeout{60};

// Why cron must not run now ("" when it may): an operation on the site, or one interrupted.
std::string cron_must_wait(Site& site) {
  const auto& cfg = site.config();
  if (auto holder = core::SiteLock::probe(cfg.lock_path()); holder && holder->command.find("rehearse") == std::string::npos)
    return fmt::format("'{}' (pid {}) holds the site since {}", holder->command, holder->pid, holder->since);
  std::string path = site.last_journal_path();
  if (!path.empty() && core::read_state_file(path)) {
    auto j = core::read_journal(path);
    if (!j.finished) return fmt::format("the last {} was interrupted (run 'mupgrade status')", j.operation);
  }
  return {};
}
}  // namespace

CronOutcome cron(Site& site, std::ostream& out) {
  CronOutcome o;
  auto st = site.state();
  if (!st || st->live_set.empty())
    throw Error(fmt::format("site {} has no live set", site.config().site), "adopt or init the site first");
  o.set = st->live_set;
  if (std::string why = cron_must_wait(site); !why.empty()) {
    o.skipped = why;
    return o;
  }
  if (site.maintenance_file_present(o.set)) {
    o.skipped = fmt::format("set {} is in maintenance", o.set);
    return o;
  }
  o.ran = true;
  auto r = site.cli(o.set).run("cron", {}, kCronRunTimeout, [&](ports::Stream, std::string_view line) { out << line << "\n"; });
  o.exit_code = r.timed_out ? 1 : r.exit_code;
  if (r.timed_out) o.error = fmt::format("cron.php did not end within {} minutes", kCronRunTimeout.count());
  else if (r.exit_code != 0) o.error = fmt::format("cron.php exited {}", r.exit_code);
  return o;
}

}  // namespace mupgrade::ops
