#include "site_steps.hpp"

#include <boost/process.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <filesystem>
#include <fstream>
#include <thread>

namespace mupgrade::ops {

namespace bp = boost::process;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

std::vector<std::string> step_env(Site& site, const CutoverContext& ctx, bool host) {
  auto p = site.paths(ctx.green);
  return {"MUPGRADE_SITE=" + site.config().site, "MUPGRADE_OPERATION=" + ctx.operation, "MUPGRADE_SET=" + ctx.green,
          "MUPGRADE_CODE=" + (host ? p.code : std::string("/var/www/moodle")),
          "MUPGRADE_MOODLEDATA=" + (host ? p.moodledata : std::string("/var/www/moodledata"))};
}

std::string tail(const std::string& text, size_t n = 300) { return text.size() <= n ? text : "..." + text.substr(text.size() - n); }

std::string save_step_log(Site& site, const CutoverContext& ctx, const std::string& step, const std::string& text) {
  fs::create_directories(site.config().state_dir + "/logs");
  std::string path = fmt::format("{}/logs/{}-{}.log", site.config().state_dir, ctx.green, step);
  std::ofstream(path) << text;
  return path;
}

json run_host(Site& site, const CutoverContext& ctx, const core::SiteStep& st) {
  bp::ipstream out;
  bp::environment env = boost::this_process::environment();
  for (const auto& kv : step_env(site, ctx, true)) {
    auto eq = kv.find('=');
    env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  std::vector<std::string> args(st.command.begin() + 1, st.command.end());
  bp::child child(st.command[0], bp::args(args), env, (bp::std_out & bp::std_err) > out, bp::std_in < bp::null);
  std::string text, line;
  std::thread reader([&] {
    while (std::getline(out, line)) text += line + "\n";
  });
  // Polls (waitpid WNOHANG): Boost 1.74's wait_for can miss a child that already exited.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(st.timeout_s);
  while (child.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  bool done = !child.running();
  if (!done) child.terminate();
  child.wait();
  reader.join();
  std::string log = save_step_log(site, ctx, st.name, text);
  if (!done) throw Error(fmt::format("site step '{}' ran longer than {} s and was stopped; log: {}", st.name, st.timeout_s, log), "raise its timeout_s or fix the command");
  if (child.exit_code() != 0)
    throw Error(fmt::format("site step '{}' ({}) exited with {}: {}; log: {}", st.name, st.command[0], child.exit_code(), tail(text), log), "fix the step, then retry");
  return {{"log", log}};
}

json run_exec(Site& site, const CutoverContext& ctx, const core::SiteStep& st) {
  docker::ExecOptions o;
  o.cmd = st.command;
  o.user = "www-data";
  o.workdir = "/var/www/moodle";
  o.env = step_env(site, ctx, false);
  o.timeout = std::chrono::seconds(st.timeout_s);
  auto r = site.engine().exec(site.web_container(ctx.green), o);
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
    step.run = [s, c, def] {
      auto cli = s->cli(c->green);
      for (const auto& [k, v] : def->settings) cli.cfg_set(k, v);
      return json::object();
    };
  } else if (st.kind == "exec") {
    step.what = fmt::format("site step: '{}' in green's web container", fmt::join(st.command, " "));
    step.run = [s, c, def] { return run_exec(*s, *c, *def); };
  } else {
    step.what = fmt::format("site step: '{}' on this host", fmt::join(st.command, " "));
    step.run = [s, c, def] { return run_host(*s, *c, *def); };
  }
  return step;
}

}  // namespace mupgrade::ops
