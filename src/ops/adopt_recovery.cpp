// What an adoption that did not finish leaves in its state dir before the site config exists
// (its journal, or only the lock it held), read back for `status` and adopt's own dry run: the
// operation as its journal recorded it and the exact commands that recover it.

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/adopt.hpp"
#include "mupgrade/ops/init.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

// A word as a shell reads it back: as is when plain, else in single quotes.
std::string shell_word(const std::string& s) {
  bool plain = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("/._:@%+=,-", c);
  });
  if (plain) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string default_state_dir(const std::string& site) { return "/var/lib/mupgrade/" + site; }

// The flags of an adoption journaled before `request` was: what its config and facts hold.
AdoptRequest request_of(const core::JournalSummary& j) {
  if (j.args.contains("request")) return AdoptRequest::from_json(j.args["request"]);
  auto cfg = site_config_from_json(j.args["config"]);
  AdoptRequest r;
  r.from = j.args.value("stack", json::object()).value("from", cfg.site);
  r.site = cfg.site;
  r.pool = cfg.pool;
  r.state_dir = cfg.state_dir;
  r.proxy_kind = core::to_string(cfg.proxy.kind);
  return r;
}

// Killed between taking its lock and opening its journal: nothing was made; the lock holds
// the command that was killed, which starts over (it clears the state dir first).
std::optional<OperationStatus> killed_before_journal(const std::string& state_dir) {
  if (core::read_state_file(state_dir + "/site.json") || core::read_state_file(state_dir + "/journal/last")) return std::nullopt;
  auto killed = core::SiteLock::left_by_killed(state_dir + "/lock");
  if (!killed || killed->command.rfind("mupgrade adopt --from ", 0) != 0) return std::nullopt;
  OperationStatus o;
  o.operation = "adopt";
  o.started = killed->since;
  o.outcome = "interrupted";
  o.recovery = {killed->command};
  return o;
}

}  // namespace

json AdoptRequest::to_json() const {
  return {{"from", from},           {"site", site},         {"pool", pool},           {"state_dir", state_dir},
          {"config_file", config_file}, {"web_image", web_image}, {"db_image", db_image}, {"proxy_image", proxy_image},
          {"proxy_kind", proxy_kind}};
}

AdoptRequest AdoptRequest::from_json(const json& j) {
  AdoptRequest r;
  r.from = j.value("from", "");
  r.site = j.value("site", "");
  r.pool = j.value("pool", "");
  r.state_dir = j.value("state_dir", "");
  r.config_file = j.value("config_file", "");
  r.web_image = j.value("web_image", "");
  r.db_image = j.value("db_image", "");
  r.proxy_image = j.value("proxy_image", "");
  r.proxy_kind = j.value("proxy_kind", "haproxy");
  return r;
}

std::string adopt_command(const AdoptRequest& req) {
  std::string c = fmt::format("mupgrade adopt --from {} --site {}", shell_word(req.from), shell_word(req.site.empty() ? req.from : req.site));
  for (const auto& [flag, value] : {std::pair{"--pool", req.pool}, {"--state-dir", req.state_dir}, {"--config", req.config_file},
                                    {"--web-image", req.web_image}, {"--db-image", req.db_image}, {"--proxy-image", req.proxy_image}})
    if (!value.empty()) c += fmt::format(" {} {}", flag, shell_word(value));
  if (!req.proxy_kind.empty() && req.proxy_kind != "haproxy") c += " --proxy " + shell_word(req.proxy_kind);
  return c + " --yes";
}

std::string adopt_undo_command(const std::string& site, const std::string& state_dir) {
  std::string c = "mupgrade adopt --undo --site " + shell_word(site);
  if (state_dir != default_state_dir(site)) c += " --state-dir " + shell_word(state_dir);
  return c;
}

std::optional<std::pair<std::string, core::JournalSummary>> last_adoption(const std::string& state_dir) {
  std::string path = core::read_state_file(state_dir + "/journal/" + kAdoptJournalPointer).value_or("");
  while (!path.empty() && path.back() == '\n') path.pop_back();
  if (path.empty() || !core::read_state_file(path)) return std::nullopt;
  auto j = core::read_journal(path);
  if (j.operation != "adopt" || !j.args.contains("config")) return std::nullopt;
  return std::pair{path, j};
}

std::optional<OperationStatus> unfinished_adoption(const std::string& state_dir) {
  auto holder = core::SiteLock::probe(state_dir + "/lock");
  bool running = holder.has_value();
  auto last = last_adoption(state_dir);
  if (!last) {
    if (!running) return killed_before_journal(state_dir);
    if (holder->command.rfind("mupgrade adopt --from ", 0) != 0 || core::read_state_file(state_dir + "/site.json")) return std::nullopt;
    OperationStatus o;  // adopt between its lock and its journal
    o.operation = "adopt";
    o.started = holder->since;
    o.outcome = "running";
    return o;
  }
  const auto& [path, j] = *last;
  // Live (register-live-set ran): the site is adopted, whatever came after.
  if (core::read_state_file(state_dir + "/site.json") || (j.finished && j.outcome == "ok")) return std::nullopt;
  auto o = operation_status(path, j);
  if (running) {
    o.outcome = "running";
    o.interrupted_step.clear();
    o.interrupted_after.clear();
    return o;
  }
  auto cfg = site_config_from_json(j.args["config"]);
  o.recovery = {adopt_undo_command(cfg.site, cfg.state_dir)};
  // After an undo that failed, the undo again (once its cause is fixed) is the way out.
  if (j.outcome != "undo-failed") o.recovery.push_back(adopt_command(request_of(j)));
  return o;
}

std::optional<StatusReport> unconfigured_status(const std::string& state_dir, const std::string& site) {
  auto adoption = unfinished_adoption(state_dir);
  if (!adoption) return std::nullopt;
  StatusReport r;
  r.configured = false;
  r.site = site;
  if (auto last = last_adoption(state_dir)) {
    auto cfg = site_config_from_json(last->second.args["config"]);
    auto req = request_of(last->second);
    r.site = cfg.site;
    r.public_url = cfg.public_url;
    r.proxy_kind = core::to_string(cfg.proxy.kind);
    r.config_file = req.config_file;
  }
  if (r.config_file.empty()) r.config_file = "/etc/mupgrade/" + r.site + ".yml";
  r.adoption = adoption;
  r.lock = core::SiteLock::probe(state_dir + "/lock");
  return r;
}

}  // namespace mupgrade::ops
