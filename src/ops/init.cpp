// `mupgrade init`: the flags checked, the host checked (nothing made yet), then the journaled
// steps of src/ops/steps/init.cpp. A failure undoes them and removes the state dir; an init a
// crash interrupted is undone by the next `init` of the same site before anything else.

#include "mupgrade/ops/init.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/site_files.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/target.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <ostream>
#include <random>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

constexpr const char* kDefaultWebImage = "mupgrade/web:php8.2";

bool plain(const std::string& s, const char* more) {
  if (s.empty()) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && !std::strchr(more, ch)) return false;
  return true;
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string without_trailing_slash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

void require_absolute(const std::string& flag, const std::string& path) {
  if (path.empty() || path[0] != '/') throw UsageError(fmt::format("{} '{}' is not an absolute path", flag, path), "give a path starting with /");
}

}  // namespace

json site_config_to_json(const core::SiteConfig& c) {
  return {{"site", c.site}, {"public_url", c.public_url}, {"public_host", c.public_host}, {"pool", c.pool}, {"state_dir", c.state_dir},
          {"network", c.network}, {"db_kind", std::string(core::to_string(c.db.kind))}, {"db_image", c.db.image}, {"db_user", c.db.user},
          {"db_name", c.db.name}, {"db_prefix", c.db.prefix}, {"db_password_file", c.db.password_file}, {"web_image", c.web_image},
          {"web_port", c.web_port}, {"proxy_kind", std::string(core::to_string(c.proxy.kind))}, {"proxy_container", c.proxy.container},
          {"proxy_config_dir", c.proxy.config_dir}, {"proxy_url", c.proxy.url}, {"proxy_image", c.proxy.image},
          {"cache_kind", c.cache.kind}, {"cache_image", c.cache.image}};
}

core::SiteConfig site_config_from_json(const json& j) {
  core::SiteConfig c;
  c.site = j.at("site");
  c.public_url = j.at("public_url");
  c.public_host = j.at("public_host");
  c.pool = j.at("pool");
  c.state_dir = j.at("state_dir");
  c.network = j.at("network");
  c.db.kind = core::db_kind_named(j.at("db_kind").get<std::string>()).value_or(core::DbKind::mariadb);
  c.db.image = j.at("db_image");
  c.db.user = j.at("db_user");
  c.db.name = j.at("db_name");
  c.db.prefix = j.at("db_prefix");
  c.db.password_file = j.at("db_password_file");
  c.web_image = c.target_image = j.at("web_image");
  c.web_port = j.at("web_port");
  c.proxy.kind = core::proxy_kind_named(j.at("proxy_kind").get<std::string>()).value_or(core::ProxyKind::haproxy);
  c.proxy.container = j.at("proxy_container");
  c.proxy.config_dir = j.at("proxy_config_dir");
  c.proxy.url = j.at("proxy_url");
  c.proxy.image = j.value("proxy_image", std::string(core::default_proxy_image(c.proxy.kind)));
  c.cache = {j.value("cache_kind", ""), j.value("cache_image", "")};  // a journal from before `cache`: none
  return c;
}

namespace {

// An init that a crash interrupted left its journal in the state dir: undo its steps from
// the undo data they journaled, then remove the state dir. Anything else there means the
// site exists.
void undo_interrupted_init(ports::Ports ports, const core::SiteConfig& cfg, Progress& progress, std::ostream& out) {
  if (core::state_files(cfg.state_dir, "").empty()) return;
  std::string last = core::read_state_file(cfg.state_dir + "/journal/last").value_or("");
  while (!last.empty() && last.back() == '\n') last.pop_back();
  bool interrupted_init = false;
  core::JournalSummary j;
  if (!last.empty() && core::read_state_file(last) && !core::read_state_file(cfg.state_dir + "/site.json")) {
    j = core::read_journal(last);
    interrupted_init = j.operation == "init" && (!j.finished || j.outcome != "ok") && j.args.contains("config");
  }
  if (!interrupted_init)
    throw UsageError(fmt::format("site {} exists already ({} holds its state)", cfg.site, cfg.state_dir),
                     fmt::format("'mupgrade status --site {}' shows it; pick another --site, or remove the site first", cfg.site));
  Site site(site_config_from_json(j.args["config"]), ports);
  core::SiteLock lock(site.config().lock_path(), cfg.site, "mupgrade init (undo of an interrupted init)");
  StepContext ctx = StepContext::from_json(j.args);
  ctx.operation = "init";
  ctx.progress = &progress;
  auto steps = table_steps(site, ctx);
  std::vector<core::BegunStep> begun;
  for (const auto& s : steps)
    if (const auto* rec = j.find(s.name); rec && rec->begun && !rec->undone) begun.push_back({&s, rec->undo_data});
  out << fmt::format("undoing an interrupted init of {} (journal {}): {} step(s)\n", cfg.site, last, begun.size());
  std::vector<std::string> failures;
  {
    core::JournalWriter journal(last);
    core::Executor ex(journal);
    std::vector<core::StepTiming> timings;
    failures = ex.undo(begun, timings);
    journal.append({"operation-end", "", failures.empty() ? "failed" : "undo-failed", 0, {{"resumed", true}}});
  }
  if (!failures.empty())
    throw Error(fmt::format("undoing the interrupted init failed at {}", failures.front()),
                fmt::format("fix the cause and run 'mupgrade init' again: the journal {} keeps what is left", last));
  core::remove_state_dir(cfg.state_dir);
}

core::VersionFile code_release(ports::Storage& storage, const std::string& code) {
  if (!storage.is_directory(code)) throw UsageError(fmt::format("--code {} is not a directory", code), "give the Moodle code tree to install");
  bool public_dir = storage.exists(code + "/" + core::CodeLayout{true}.version_file());
  std::string file = code + "/" + core::CodeLayout{public_dir}.version_file();
  auto text = storage.read_file(file);
  if (!text) throw UsageError(fmt::format("--code {} holds no Moodle code (no version.php)", code), "give the root of a Moodle code tree");
  auto vf = core::parse_version_php(*text);
  if (!vf.version || vf.release.empty())
    throw UsageError(fmt::format("{}: cannot read $version and $release", file), "give the root of a Moodle code tree");
  return vf;
}

// The code source pinned (a git ref's commit, an image's id) and its version.php read, with
// nothing extracted yet: that is the journaled step extract-code.
struct Source {
  TargetRelease release;
  core::VersionFile version;
};

Source code_source(ports::Ports ports, const InitRequest& req, const core::SiteConfig& cfg) {
  Source src;
  if (!req.code.empty()) {
    src.release.code_dir = req.code;
    src.version = code_release(ports.storage, req.code);
    return src;
  }
  core::SiteConfig c = cfg;  // the release is read as a cutover target; the site's own config keeps no target
  c.target_git_repo = req.git_repo;
  c.target_git_ref = req.git_ref;
  c.target_image = req.image;
  c.target_image_code = req.image.empty() ? "" : req.image_path;
  // A Site makes its state dir; a refusal or a dry run must leave none, so this one is scratch.
  std::string scratch = core::make_scratch_state_dir("mupgrade-init");
  struct Remove {
    std::string dir;
    ~Remove() {
      try {
        core::remove_state_dir(dir);
      } catch (...) {  // a temp dir left behind is no reason to fail
      }
    }
  } remove_scratch{scratch};
  c.state_dir = scratch;
  Site site(c, ports);
  const TargetNames names{"--git", "--ref", "--image", "--image-path"};
  src.release = resolve_target(site, "", names);
  src.version = target_version(site, src.release, names);
  if (src.version.release.empty())
    throw UsageError(fmt::format("{}: version.php has no $release", src.release.describe()), "give a Moodle release");
  return src;
}

// Everything init needs, checked before anything is made: one refusal, nothing changed.
Source preflight(ports::Ports ports, const InitRequest& req, const core::SiteConfig& cfg) {
  auto& storage = ports.storage;
  auto& containers = ports.containers;
  if (storage.exists(req.config_file))
    throw UsageError(fmt::format("site {} exists already ({})", cfg.site, req.config_file), "pick another --site, or use the existing site's commands");
  std::string pool_fs = storage.exists(cfg.pool) ? cfg.pool : parent_of(cfg.pool);
  if (!storage.is_directory(pool_fs) || !storage.is_btrfs(pool_fs))
    throw UsageError(fmt::format("--pool {}: {} is not a directory on btrfs", cfg.pool, pool_fs), "give a dir on a btrfs filesystem (README, 'Two commands')");
  if (!storage.list_dir(cfg.sets_dir()).empty() || !storage.list_dir(cfg.clones_dir()).empty())
    throw UsageError(fmt::format("--pool {} already holds sets", cfg.pool), "give an empty or new dir for the new site");
  if (auto free = storage.space(pool_fs).free_bytes; free < core::kMinPoolFreeBytes)
    throw Error(fmt::format("the pool has {:.1f} GB free, less than {} GB", static_cast<double>(free) / 1e9, core::kMinPoolFreeBytes >> 30), "free space in the pool first");
  auto release = code_source(ports, req, cfg);
  std::vector<std::string> images = {cfg.web_image, cfg.db.image, cfg.proxy.image};
  if (cfg.cache.enabled()) images.push_back(cfg.cache.image);
  for (const auto& image : images)
    if (!containers.image(image))
      throw Error(fmt::format("image {} is not on this host", image), "build it (scripts/setup builds the project's images) or pull it");
  if (!containers.list_containers({{"mupgrade.site", cfg.site}}, true).empty() || containers.inspect_container(cfg.proxy.container))
    throw UsageError(fmt::format("containers of a site {} exist already", cfg.site), fmt::format("docker ps -a --filter label=mupgrade.site={}", cfg.site));
  if (containers.network(cfg.network))
    throw UsageError(fmt::format("the network {} exists already", cfg.network), "pick another --site, or remove the network");
  if (req.admin_password.empty()) throw UsageError("no admin password", "pass --admin-password-file FILE, or run on a terminal to be asked");
  return release;
}

// The plan as `--dry-run` prints it: the table's steps, unbound.
std::vector<core::Step> planned_steps() {
  std::vector<core::Step> steps;
  for (const auto& d : step_table())
    if (std::find(d.operations.begin(), d.operations.end(), "init") != d.operations.end())
      steps.push_back(core::Step{d.name, d.phase, d.what, d.undo_what, {}, {}, false, false});
  return steps;
}

}  // namespace

std::string random_password(size_t length) {
  static const char* kChars = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  std::random_device rd;
  std::uniform_int_distribution<size_t> pick(0, std::strlen(kChars) - 1);
  std::string s;
  for (size_t i = 0; i < length; ++i) s += kChars[pick(rd)];
  return s;
}

core::SiteConfig init_site_config(const InitRequest& req) {
  if (!plain(req.site, "-_") || req.site.size() > 40)
    throw UsageError(fmt::format("--site '{}' is not a site name (letters, digits, - and _; at most 40)", req.site), "e.g. --site moodle");
  auto kind = core::db_kind_named(req.db_kind);
  if (!kind) throw UsageError(fmt::format("--db '{}' is not mariadb or postgresql", req.db_kind), "pass --db mariadb or --db postgresql");
  auto proxy = core::proxy_kind_named(req.proxy_kind);
  if (!proxy) throw UsageError(fmt::format("--proxy '{}' is not haproxy or nginx", req.proxy_kind), "pass --proxy haproxy or --proxy nginx");
  std::string host = core::host_of_url(req.url);
  int port = core::port_of_url(req.url);
  if (req.url.rfind("http://", 0) != 0 || host.empty() || host[0] == ':' || port == 0)
    throw UsageError(fmt::format("--url '{}' is not http://HOST[:PORT]", req.url), "e.g. --url http://moodle.example.edu:8080 (TLS ends in front of mupgrade's proxy)");
  if (req.url.size() > 7 + host.size() && req.url.substr(7 + host.size()) != "/")
    throw UsageError(fmt::format("--url '{}' has a path", req.url), "serve Moodle at the root of its host: http://HOST[:PORT]");
  int sources = !req.code.empty() + !req.git_repo.empty() + !req.image.empty();
  if (sources != 1)
    throw UsageError(sources == 0 ? "no code to install: none of --code, --git, --image was given" : "more than one of --code, --git, --image was given", "pass exactly one of --code DIR, --git REPO --ref REF, --image IMAGE");
  if (!req.code.empty()) require_absolute("--code", req.code);
  if (!req.git_repo.empty()) {
    if (req.git_repo.find("://") != std::string::npos || req.git_repo.find('@') != std::string::npos)
      throw UsageError(fmt::format("--git {} is not a local repository", req.git_repo), "clone it first (mupgrade does not fetch), then pass --git /path/to/clone");
    require_absolute("--git", req.git_repo);
    if (req.git_ref.empty()) throw UsageError("--git needs --ref", "e.g. --ref v4.5.6 or --ref MOODLE_405_STABLE");
  } else if (!req.git_ref.empty()) {
    throw UsageError("--ref is only for --git", "pass --git REPO --ref REF");
  }
  if (!req.image.empty()) require_absolute("--image-path", req.image_path);
  require_absolute("--pool", req.pool);
  if (!req.cache_kind.empty() && req.cache_kind != "redis")
    throw UsageError(fmt::format("--cache '{}' is not redis", req.cache_kind),
                     req.cache_kind == "memcached" ? "memcached keeps nothing on disk, so a set's cache could not travel with its snapshot: pass --cache redis"
                                                   : "pass --cache redis, or no --cache for sessions in files");
  if (req.cache_kind.empty() && !req.cache_image.empty()) throw UsageError("--cache-image is only for --cache", "pass --cache redis --cache-image IMAGE");
  if (!plain(req.prefix, "_") || !std::isalpha(static_cast<unsigned char>(req.prefix[0])))
    throw UsageError(fmt::format("--prefix '{}' is not a table prefix", req.prefix), "letters, digits and _, e.g. mdl_");
  core::SiteConfig c;
  c.site = req.site;
  c.public_url = "http://" + host;
  c.public_host = host;
  c.pool = without_trailing_slash(req.pool);
  c.state_dir = req.state_dir.empty() ? "/var/lib/mupgrade/" + req.site : without_trailing_slash(req.state_dir);
  require_absolute("--state-dir", c.state_dir);
  c.network = "mupgrade-" + req.site;
  c.db.kind = *kind;
  c.db.image = req.db_image.empty() ? std::string(core::engine_of(*kind).image) : req.db_image;
  c.db.user = std::string(core::engine_of(*kind).user);
  c.db.prefix = req.prefix;
  c.db.password_file = c.state_dir + "/db_password";
  c.web_image = c.target_image = req.web_image.empty() ? kDefaultWebImage : req.web_image;
  c.web_port = port;
  c.proxy = {*proxy, "mupgrade-" + req.site + "-proxy", c.state_dir + "/proxy", fmt::format("http://127.0.0.1:{}", port),
             req.proxy_image.empty() ? std::string(core::default_proxy_image(*proxy)) : req.proxy_image};
  if (!req.cache_kind.empty()) c.cache = {req.cache_kind, req.cache_image.empty() ? core::kDefaultRedisImage : req.cache_image};
  return c;
}

InitOutcome init(ports::Ports ports, const InitRequest& given, Progress& progress, std::ostream& out) {
  InitRequest req = given;
  if (req.config_file.empty()) req.config_file = "/etc/mupgrade/" + req.site + ".yml";
  auto cfg = init_site_config(req);
  require_absolute("--config", req.config_file);
  InitOutcome o;
  o.operation = "init";
  o.config_file = req.config_file;
  o.public_url = cfg.public_url;
  o.proxy_url = cfg.proxy.url;
  if (req.dry_run) {
    if (!core::state_files(cfg.state_dir, "").empty())
      throw UsageError(fmt::format("site {} exists already ({} holds its state)", cfg.site, cfg.state_dir),
                       "pick another --site; an init that was interrupted is undone by running it again without --dry-run");
    auto src = preflight(ports, req, cfg);
    out << fmt::format("init of {}: Moodle {} from {} ({}), {} at {}\nsteps (undone on failure):\n", cfg.site, src.version.release, src.release.describe(),
                       core::to_string(cfg.db.kind), core::to_string(cfg.proxy.kind), cfg.public_url)
        << core::render_plan(planned_steps());
    o.ok = true;
    return o;
  }
  undo_interrupted_init(ports, cfg, progress, out);
  auto src = preflight(ports, req, cfg);
  const auto& release = src.version;

  InitInputs in;
  in.release = &src.release;
  in.admin_password = req.admin_password;
  in.db_password = req.db_password.empty() ? Secret(random_password()) : req.db_password;
  in.config_file = req.config_file;
  in.config_text = core::render_site_yaml(cfg);
  in.fullname = req.fullname.empty() ? "Moodle" : req.fullname;
  in.shortname = req.shortname.empty() ? req.site : req.shortname;

  Site site(cfg, ports);
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade init");
  StepContext ctx;
  ctx.operation = "init";
  ctx.green = core::make_set_id(release.release, core::utc_compact_now());
  ctx.target_code = src.release.code_dir;
  ctx.progress = &progress;
  ctx.init = &in;
  o.set = o.green = ctx.green;
  auto steps = table_steps(site, ctx);
  out << fmt::format("init of {}: set {} (Moodle {}), {} behind {} at {}\n", cfg.site, ctx.green, release.release,
                     core::to_string(cfg.db.kind), core::to_string(cfg.proxy.kind), cfg.public_url);

  core::RunResult result;
  {
    core::JournalWriter journal(site.new_journal_path("init"));
    o.journal = journal.path();
    result = run_steps(journal, ctx, steps, progress, {{"config", site_config_to_json(cfg)}});
  }
  o.take(result);
  if (o.ok) {
    o.release = site.state() ? site.state()->live_release : release.release;
    return o;
  }
  // Every step undone: nothing of the site is left, its journal included.
  if (o.undo_failures.empty()) core::remove_state_dir(cfg.state_dir);
  else o.hint = fmt::format("some undos failed; fix the cause and run the same 'mupgrade init' again: it undoes what is left first (journal {})", o.journal);
  return o;
}

}  // namespace mupgrade::ops
