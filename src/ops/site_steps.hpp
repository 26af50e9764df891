#pragma once
// The site's own steps (config key `steps`), run at named points of a playbook.

#include "mupgrade/core/executor.hpp"
#include "mupgrade/ops/plans.hpp"

namespace mupgrade::ops {

/// kind cfg: cfg.php --set on green; exec: a command in green's web container (as www-data,
/// in the code root); host: a command on this host (e.g. installing plugin code into green's
/// code tree before it is mounted). Each gets MUPGRADE_SITE, MUPGRADE_OPERATION, MUPGRADE_SET,
/// MUPGRADE_CODE and MUPGRADE_MOODLEDATA; never the DB password.
core::Step make_site_step(Site& site, CutoverContext& ctx, const core::SiteStep& step, core::Phase phase);

}  // namespace mupgrade::ops
