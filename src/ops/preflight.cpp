#include "preflight.hpp"

#include "mupgrade/core/journal.hpp"

#include <fmt/format.h>

#include <filesystem>

namespace mupgrade::ops {

namespace fs = std::filesystem;

core::SiteState require_live_set(Site& site) {
  const auto& cfg = site.config();
  auto state = site.state();
  if (!state || state->live_set.empty())
    throw Error(fmt::format("site {} has no live set recorded in {}/site.json", cfg.site, cfg.state_dir),
                "register the running set first: mupgrade adopt --set ID");
  return *state;
}

void refuse_if_interrupted(Site& site, const std::string& fix) {
  std::string last = site.last_journal_path();
  if (last.empty() || !fs::exists(last)) return;
  auto j = core::read_journal(last);
  if (!j.finished)
    throw Error(fmt::format("the last operation ({}) was interrupted at step '{}'", j.operation, j.interrupted_step().value_or("?")), fix);
}

}  // namespace mupgrade::ops
