#include "site_steps.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

std::vector<std::string> step_env(Site& site, const CutoverContext& ctx, bool host) {
  auto p = site.paths(ctx.green);
  return {"MUPGRADE_SITE=" + site.config().site, "MUPGRADE_OPERATION=" + ctx.operation, "MUPGRADE_SET=" + ctx.green,
          "MUPGRADE_CODE=" + (host ? p.code : std::string(core::kContainerCodeRoot)),
          "MUPGRADE_MOODLEDATA=" + (host ? p.moodledata : std::string(core::kContainerMoodledata))};
}

std::string tail(const std::string& text, size_t n = 300) { return text.size() <= n ? text : "..." + text.substr(text.size() - n); }

std::string save_step_log(Site& site, const CutoverContext& ctx, const std::string& step, const std::string& text) {
  return site.save_log(fmt::format("{}-{}.log", ctx.green, step), text);
}

json run_host(Site& site, const CutoverContext& ctx, const core::SiteStep& st) {
  auto r = site.ports().commands.run(st.command, step_env(site, ctx, true), std::chrono::seconds(st.timeout_s));
  std::string log = save_step_log(site, ctx, st.name, r.output);
  if (r.timed_out) throw Error(fmt::format("site step '{}' ran longer than {} s and was stopped; log: {}", st.name, st.timeout_s, log), "raise its timeout_s or fix the command");
  if (r.exit_code != 0)
    throw Error(fmt::format("site step '{}' ({}) exited with {}: {}; log: {}", st.name, st.command[0], r.exit_code, tail(r.output), log), "fix the step, then retry");
  return {{"log", log}};
}

json run_exec(Site& site, const CutoverContext& ctx, const core::SiteStep& st) {
  ports::ExecOptions o;
  o.cmd = st.command;
  o.user = "www-data";
  o.workdir = core::kContainerCodeRoot;
  o.env = step_env(site, ctx, false);
  o.timeout = std::chrono::seconds(st.timeout_s);
  auto r = site.ports().containers.exec(site.web_container(ctx.green), o);
  std::string log = save_step_log(site, ctx, st.name, r.out + r.err);
  if (r.exit_code != 0)
    throw Error(fmt::format("site step '{}' ({}) exited with {} in {}: {}; log: {}", st.name, fmt::join(st.command, " "), r.exit_code,
                            site.web_container(ctx.green), tail(r.out + r.err), log),
                "fix the step, then retry");
  return {{"log", log}};
}

}  // namespace

core::Step make_site_step(Site& site, CutoverContext& ctx, const core::SiteStep& st, core::Phase phase) {
  core::Step step;
  step.name = st.name;
  step.phase = phase;
  Site* s = &site;
  CutoverContext* c = &ctx;
  const core::SiteStep* def = &st;
  if (st.kind == "cfg") {
    std::string list;
    for (const auto& [k, v] : st.settings) list += (list.empty() ? "" : ", ") + k;
    step.what = fmt::format("site step: cfg.php on green ({})", list);
    step.run = [s, c, def](core::StepRun&) {
      auto cli = s->cli(c->green);
      for (const auto& [k, v] : def->settings) cli.cfg_set(k, v);
      return json::object();
    };
  } else if (st.kind == "exec") {
    step.what = fmt::format("site step: '{}' in green's web container", fmt::join(st.command, " "));
    step.run = [s, c, def](core::StepRun&) { return run_exec(*s, *c, *def); };
  } else {
    step.what = fmt::format("site step: '{}' on this host", fmt::join(st.command, " "));
    step.run = [s, c, def](core::StepRun&) { return run_host(*s, *c, *def); };
  }
  return step;
}

}  // namespace mupgrade::ops
