// The step table assembled, and plans composed from it: the playbook's order, the table's
// rules, the site's own steps at their anchors.

#include "mupgrade/ops/plans.hpp"

#include "mupgrade/core/playbook.hpp"
#include "../site_steps.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace mupgrade::ops {

using nlohmann::json;

json StepContext::to_json() const {
  return {{"operation", operation}, {"blue", blue}, {"green", green}, {"target_code", target_code},
          {"remove_failed_green", remove_failed_green}, {"writes_left_behind", writes_left_behind},
          {"discard_writes", discard_writes}, {"watermark", watermark}, {"first_page_after_switch", first_page_after_switch}};
}

StepContext StepContext::from_json(const json& j) {
  StepContext c;
  c.operation = j.value("operation", "cutover");
  c.blue = j.value("blue", j.value("to", ""));      // rollback journals of v1 said from/to
  c.green = j.value("green", j.value("from", ""));
  c.target_code = j.value("target_code", "");
  c.remove_failed_green = j.value("remove_failed_green", false);
  c.writes_left_behind = j.value("writes_left_behind", 0L);
  c.discard_writes = j.value("discard_writes", false);
  c.first_page_after_switch = j.value("first_page_after_switch", false);
  c.watermark = j.value("watermark", json::object());
  return c;
}

const std::vector<StepDef>& step_table() {
  static const std::vector<StepDef> table = [] {
    std::vector<StepDef> t;
    add_prepare_steps(t);
    add_window_steps(t);
    add_after_steps(t);
    add_rollback_steps(t);
    add_init_steps(t);
    add_up_steps(t);
    add_adopt_steps(t);
    return t;
  }();
  return table;
}

namespace {

bool has(const std::vector<std::string>& v, const std::string& x) { return std::find(v.begin(), v.end(), x) != v.end(); }

const StepDef* find_def(const std::string& operation, const std::string& name) {
  for (const auto& d : step_table())
    if (d.name == name && has(d.operations, operation)) return &d;
  return nullptr;
}

core::Step bind(Site& site, StepContext& ctx, const StepDef& d) {
  core::Step s;
  s.name = d.name;
  s.phase = d.phase;
  s.what = ctx.rehearsal() && !d.what_in_rehearsal.empty() ? d.what_in_rehearsal : d.what;
  s.undo_what = d.undo_what;
  s.point_of_no_return = d.point_of_no_return;
  s.restores_service = d.restores_service;
  s.verifies_switch = d.verifies_switch;
  Site* sp = &site;
  StepContext* cp = &ctx;
  if (d.run) s.run = [sp, cp, run = d.run](core::StepRun& r) { return run(*sp, *cp, r); };
  if (d.undo) s.undo = [sp, cp, undo = d.undo](const json& data) { undo(*sp, *cp, data); };
  return s;
}

const core::SiteStep* find_site_step(const core::SiteConfig& cfg, const std::string& name) {
  for (const auto& st : cfg.steps)
    if (st.name == name) return &st;
  return nullptr;
}

core::Phase anchor_phase(const std::string& operation, const std::string& anchor) {
  const StepDef* d = find_def(operation, anchor);
  return d ? d->phase : core::Phase::window;
}

}  // namespace

core::StepRules rules_for(const std::string& operation) {
  core::StepRules rules;
  for (const auto& d : step_table())
    if (has(d.operations, operation)) rules[d.name] = {d.required, d.after};
  return rules;
}

std::vector<core::Step> compose_steps(Site& site, StepContext& ctx) {
  const auto& cfg = site.config();
  auto pb = cfg.playbooks.find(ctx.operation);
  if (pb == cfg.playbooks.end()) throw Error(fmt::format("no playbook loaded for {}", ctx.operation));
  std::vector<core::Step> steps;
  for (const auto& p : core::compose_plan(pb->second, rules_for(ctx.operation), cfg.steps)) {
    if (p.site_step >= 0) {
      const auto& ss = cfg.steps[size_t(p.site_step)];
      steps.push_back(make_site_step(site, ctx, ss, anchor_phase(ctx.operation, ss.anchor)));
    } else if (const StepDef* d = find_def(ctx.operation, p.name); d && (!d->applies || d->applies(cfg))) {
      steps.push_back(bind(site, ctx, *d));
    }
  }
  return steps;
}

std::vector<core::Step> table_steps(Site& site, StepContext& ctx) {
  std::vector<core::Step> steps;
  for (const auto& d : step_table())
    if (has(d.operations, ctx.operation) && (!d.applies || d.applies(site.config()))) steps.push_back(bind(site, ctx, d));
  return steps;
}

std::vector<core::Step> steps_by_name(Site& site, StepContext& ctx, const std::vector<std::string>& names) {
  std::vector<core::Step> steps;
  for (const auto& n : names) {
    if (const StepDef* d = find_def(ctx.operation, n)) {
      steps.push_back(bind(site, ctx, *d));
    } else if (const auto* ss = find_site_step(site.config(), n)) {
      steps.push_back(make_site_step(site, ctx, *ss, anchor_phase(ctx.operation, ss->anchor)));
    } else {
      throw Error(fmt::format("the interrupted {} ran step '{}', which the site config no longer defines", ctx.operation, n),
                  "put the site step back in the config until the operation is finished (mupgrade cutover --resume)");
    }
  }
  return steps;
}

}  // namespace mupgrade::ops
