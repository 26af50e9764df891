// `mupgrade adopt --from` and `adopt --undo`: discovery (adopt_discover.cpp), the site config
// the adopted site gets, the checks before anything is made, the dry run, then the journaled
// steps (steps/adopt.cpp). The undo replays the journal's undos: the old stack serves again.

#include "mupgrade/ops/adopt.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/poll.hpp"
#include "mupgrade/core/site_files.hpp"
#include "mupgrade/core/site_lock.hpp"
#include "mupgrade/ops/init.hpp"
#include "mupgrade/ops/plans.hpp"
#include "mupgrade/ops/target.hpp"

#include <fmt/format.h>

#include <cctype>
#include <ostream>
#include <regex>

namespace mupgrade::ops {

using nlohmann::json;

namespace {

constexpr const char* kDefaultWebImage = "mupgrade/web:php8.2";
const std::chrono::seconds kOldStackServeTimeout{60};
/// What the final pass reads per second when it compares the DB dir by content (an estimate
/// for the dry run; README gives the measured downtime).
constexpr double kChecksumBytesPerSecond = 300e6;

bool plain(const std::string& s) {
  if (s.empty() || s.size() > 40) return false;
  for (char ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') return false;
  return true;
}

std::string parent_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
}

std::string mb(std::uint64_t bytes) { return fmt::format("{:.1f} MB", static_cast<double>(bytes) / 1e6); }

// The set's images: the stack's own where they offer what mupgrade needs, else the flag's or
// the project's (said in the notes), else a refusal.
void choose_images(const AdoptRequest& req, StackFacts& f, core::SiteConfig& c) {
  if (!req.web_image.empty()) c.web_image = req.web_image;
  else if (f.web_image_fits) c.web_image = f.web_image;
  else {
    c.web_image = kDefaultWebImage;
    f.notes.push_back(fmt::format("the set runs web image {}: the stack's {} does not read MOODLE_WEBROOT/MOODLE_HTTP_PORT "
                                  "(README: what an image must offer); --web-image picks another", c.web_image, f.web_image));
  }
  c.target_image = c.web_image;
  const auto& engine = core::engine_of(f.kind);
  if (!req.db_image.empty()) c.db.image = req.db_image;
  else if (f.db_image_fits) c.db.image = f.db_image;
  else {
    std::string image(engine.image);
    std::string tag = image.substr(image.find(':') + 1);  // "10.11", "15"
    bool same = f.server_version.rfind(tag + ".", 0) == 0 || f.server_version.rfind(tag + " ", 0) == 0 || f.server_version == tag;
    if (!same)
      throw Error(fmt::format("the stack's DB keeps its data at {} (not {}), and {} is not {} {}", f.db_data.container_path, engine.data_dir,
                              f.server_version, engine.name, tag),
                  fmt::format("pass --db-image an image of {} {} that keeps its data in {}", engine.name, f.server_version, engine.data_dir));
    c.db.image = image;
    f.notes.push_back(fmt::format("the set runs DB image {} (the stack's {} keeps its data at {}, the set's DB at {})", image, f.db_image,
                                  f.db_data.container_path, engine.data_dir));
  }
}

core::SiteConfig adopt_site_config(const AdoptRequest& req, StackFacts& f) {
  std::string url = f.wwwroot;
  while (!url.empty() && url.back() == '/') url.pop_back();
  std::string host = core::host_of_url(url);
  if (url.rfind("http", 0) != 0 || host.empty() || url.size() > url.find(host) + host.size())
    throw Error(fmt::format("the stack's wwwroot '{}' is not http(s)://HOST[:PORT]", f.wwwroot), "mupgrade serves Moodle at the root of its host");
  core::SiteConfig c;
  c.site = req.site;
  c.public_url = url;
  c.public_host = host;
  c.pool = req.pool;
  c.state_dir = req.state_dir;
  c.network = "mupgrade-" + req.site;
  c.db.kind = f.kind;
  c.db.name = f.dbname;
  c.db.user = f.mupgrade_db_user;
  c.db.prefix = f.prefix;
  c.db.password_file = c.state_dir + "/db_password";
  c.web_port = core::port_of_url(url);
  auto proxy = core::proxy_kind_named(req.proxy_kind);
  if (!proxy) throw UsageError(fmt::format("--proxy '{}' is not haproxy or nginx", req.proxy_kind), "pass --proxy haproxy or --proxy nginx");
  c.proxy = {*proxy, "mupgrade-" + req.site + "-proxy", c.state_dir + "/proxy", fmt::format("http://127.0.0.1:{}", f.public_port),
             req.proxy_image.empty() ? std::string(core::default_proxy_image(*proxy)) : req.proxy_image};
  choose_images(req, f, c);
  if (!f.redis.empty()) c.cache = {"redis", core::kDefaultRedisImage};
  return c;
}

std::string probe_name(const core::SiteConfig& cfg) { return "mupgrade-" + cfg.site + "-adopt-probe"; }

// The uid and gid `user` has in `image` (a throwaway container running `id`, no network);
// nullopt when the image cannot say (no `id`, no such user).
std::optional<std::pair<unsigned, unsigned>> image_user_ids(ports::Ports p, const core::SiteConfig& cfg, const std::string& image,
                                                            const std::string& user, std::string& said) {
  auto [code, out] = run_in_image(p.containers, cfg.site, image, {"id", user}, {}, probe_name(cfg));
  said = out.substr(0, out.find('\n'));
  std::smatch m;
  if (code != 0 || !std::regex_search(out, m, std::regex("uid=([0-9]+)[^ ]* gid=([0-9]+)"))) return std::nullopt;
  return std::pair{static_cast<unsigned>(std::stoul(m[1].str())), static_cast<unsigned>(std::stoul(m[2].str()))};
}

Error unknown_user(const std::string& image, const std::string& user, const std::string& said) {
  return Error(fmt::format("cannot tell which uid the user {} has in image {} ('id {}' answered: {})", user, image, user, said),
               "the set's files must belong to the user the image runs as: pass an image that has 'id' and that user");
}

// Who the set's files belong to: the DB data dir is chowned when the set's DB image runs its DB
// as another uid than the stack's files have (even the same image: the stack may run it as
// another user); the Redis dump always belongs to the set's Redis user.
void choose_owners(ports::Ports p, const core::SiteConfig& cfg, StackFacts& f) {
  std::string user = f.kind == core::DbKind::mariadb ? "mysql" : "postgres", said;
  auto ids = image_user_ids(p, cfg, cfg.db.image, user, said);
  auto now = p.storage.file_mode(f.db_data.host_path);
  if (!ids && cfg.db.image != f.db_image) throw unknown_user(cfg.db.image, user, said);
  if (ids && (!now || now->uid != ids->first || now->gid != ids->second)) {
    std::tie(f.db_uid, f.db_gid) = *ids;
    f.notes.push_back(fmt::format("the set's copy of the DB data dir is chowned to {}:{} (the user image {} runs its DB as; the stack's files "
                                  "are {}:{}, and stay so)", f.db_uid, f.db_gid, cfg.db.image, now ? now->uid : 0, now ? now->gid : 0));
  }
  if (!cfg.cache.enabled()) return;
  ids = image_user_ids(p, cfg, cfg.cache.image, "redis", said);
  if (!ids) throw unknown_user(cfg.cache.image, "redis", said);
  std::tie(f.cache_uid, f.cache_gid) = *ids;
}

// Everything checked before anything is made: one refusal, nothing changed.
void preflight(ports::Ports p, const AdoptRequest& req, const core::SiteConfig& cfg, const StackFacts& f) {
  auto& st = p.storage;
  if (!p.commands.executable("/usr/bin/rsync")) throw Error("rsync is not installed (/usr/bin/rsync): adopt copies with it", "apt-get install rsync");
  if (st.exists(req.config_file))
    throw UsageError(fmt::format("site {} exists already ({})", cfg.site, req.config_file), "pick another --site, or use the site's commands");
  std::string pool_fs = st.exists(cfg.pool) ? cfg.pool : parent_of(cfg.pool);
  if (!st.is_directory(pool_fs) || !st.is_btrfs(pool_fs))
    throw UsageError(fmt::format("--pool {}: {} is not a directory on btrfs", cfg.pool, pool_fs), "give a dir on a btrfs filesystem");
  if (!st.list_dir(cfg.sets_dir()).empty()) throw UsageError(fmt::format("--pool {} already holds sets", cfg.pool), "give an empty or new dir");
  std::uint64_t need = f.code.bytes + f.moodledata.bytes + f.db_data.bytes + f.cache_data.bytes + core::kMinPoolFreeBytes;
  if (auto free = st.space(pool_fs).free_bytes; free < need)
    throw Error(fmt::format("not enough space in the pool: the copy needs {} (with the {} GB floor), {} has {} free", mb(need),
                            core::kMinPoolFreeBytes >> 30, pool_fs, mb(free)),
                "free space in the pool, or give another --pool");
  for (const auto& image : {cfg.web_image, cfg.db.image, cfg.proxy.image, cfg.cache.enabled() ? cfg.cache.image : cfg.web_image})
    if (!p.containers.image(image)) throw Error(fmt::format("image {} is not on this host", image), "build or pull it, or pass another image");
  auto theirs = p.containers.list_containers({{"mupgrade.site", cfg.site}}, true);
  // A probe a killed adopt left is adopt's own: the next probe replaces it.
  std::erase_if(theirs, [&](const ports::ContainerInfo& c) { return c.name == probe_name(cfg); });
  if (!theirs.empty() || p.containers.inspect_container(cfg.proxy.container))
    throw UsageError(fmt::format("containers of a site {} exist already", cfg.site), fmt::format("docker ps -a --filter label=mupgrade.site={}", cfg.site));
  if (p.containers.network(cfg.network)) throw UsageError(fmt::format("the network {} exists already", cfg.network), "pick another --site");
}

void print_plan(const AdoptRequest& req, const core::SiteConfig& cfg, const StackFacts& f, const std::string& set, std::ostream& out) {
  auto sp = core::SetLayout(cfg).paths(set);
  out << fmt::format("adopt {} ({}): Moodle {} ({}) on {} {}, served at {}\n", f.from,
                     f.project.empty() ? "container " + f.web : "Compose project " + f.project, f.release, f.code_version,
                     core::to_string(f.kind), f.server_version, f.wwwroot);
  out << fmt::format("  web {} (image {}; PHP writes as uid {}), DB {} (image {}), mupgrade connects as DB user '{}'\n", f.web,
                     f.web_image, f.web_uid, f.db, f.db_image, f.mupgrade_db_user);
  out << "copies (rsync while the site serves, then the delta with the stack stopped):\n";
  for (const auto& [what, d, to] : {std::tuple{"code", &f.code, sp.code}, {"moodledata", &f.moodledata, sp.moodledata}, {"db data", &f.db_data, sp.db}})
    if (d->in_image())
      out << fmt::format("  {:<10} from the image of container {} at {} ({}) -> {} (its own layer included; before the window, then in it the paths its layer changed)\n",
                         what, f.web, d->container_path, mb(d->bytes), to);
    else
      out << fmt::format("  {:<10} {} ({} at {}, {}) -> {}\n", what, d->host_path, d->mount, d->container_path, mb(d->bytes), to);
  if (!f.redis.empty())
    out << fmt::format("  {:<10} {}/{} (Redis {} of {}: {}; saved and copied in the window) -> {}/dump.rdb, owned by {}:{}\n", "redis",
                       f.cache_data.host_path, f.redis_dump, f.redis, f.redis_host,
                       f.redis_sessions && f.redis_muc ? "sessions and MUC caches" : f.redis_sessions ? "sessions" : "MUC caches", sp.cache,
                       f.cache_uid, f.cache_gid);
  std::uint64_t need = f.code.bytes + f.moodledata.bytes + f.db_data.bytes + f.cache_data.bytes;
  out << fmt::format("space: {} to copy, the pool keeps {} GB free on top\n", mb(need), core::kMinPoolFreeBytes >> 30);
  out << fmt::format("set {}: web image {}, DB image {}; proxy {} on 127.0.0.1:{} (the stack's public port)\n", set, cfg.web_image,
                     cfg.db.image, core::to_string(cfg.proxy.kind), f.public_port);
  out << fmt::format("expected downtime: about {:.0f} s (maintenance on, the stack stopped, the delta copy reading the DB dir of {}, "
                     "the set started and seen through the proxy)\n",
                     3.0 + static_cast<double>(f.db_data.bytes) / kChecksumBytesPerSecond, mb(f.db_data.bytes));
  out << "the stack's volumes are never modified, except climaintenance.html in its moodledata during the window (Moodle's own flag);\n"
         "afterwards the stack stays stopped and untouched: 'mupgrade adopt --undo --site " << cfg.site << "' brings it back.\n";
  for (const auto& n : f.notes) out << "note: " << n << "\n";
  out << fmt::format("site config to write ({}):\n", req.config_file);
  std::string yaml = core::render_site_yaml(cfg, "adopt");
  for (size_t pos = 0; pos < yaml.size();) {
    auto nl = yaml.find('\n', pos);
    out << "  | " << yaml.substr(pos, nl - pos) << "\n";
    pos = nl == std::string::npos ? yaml.size() : nl + 1;
  }
}

std::vector<core::Step> planned_steps() {
  std::vector<core::Step> steps;
  for (const auto& n : adopt_step_names())
    for (const auto& d : step_table())
      if (d.name == n && d.operations == std::vector<std::string>{"adopt"}) steps.push_back({d.name, d.phase, d.what, d.undo_what, {}, {}, false, false});
  return steps;
}

// What cutovers and rehearsals made since the adoption (sets, clones, extracted targets,
// probes): the adoption's own undo then finds the pool as it left it.
void remove_later_sets(Site& site, const std::string& adopted) {
  auto& st = site.ports().storage;
  const auto& cfg = site.config();
  for (const auto& set : st.list_dir(cfg.sets_dir()))
    if (set != adopted) site.remove_set(set);
  for (const auto& dir : {cfg.clones_dir(), cfg.pool + "/targets", cfg.pool + "/probes"}) {
    for (const auto& e : st.list_dir(dir)) {
      if (dir == cfg.clones_dir()) remove_clone(site, e);
      site.delete_if_subvolume(dir + "/" + e);
      if (st.exists(dir + "/" + e)) st.remove_tree(dir + "/" + e);
    }
    if (st.exists(dir)) st.remove_tree(dir);
  }
}

// Undoes every step of the adoption that began and is not undone yet, newest first.
std::vector<std::string> undo_adoption(ports::Ports p, const std::string& path, const core::JournalSummary& j, Progress& progress,
                                       std::ostream& out, std::vector<core::StepTiming>& timings) {
  Site site(site_config_from_json(j.args["config"]), p);
  StepContext ctx = StepContext::from_json(j.args);
  ctx.operation = "adopt";
  ctx.progress = &progress;
  auto steps = steps_by_name(site, ctx, adopt_step_names());
  std::vector<core::BegunStep> begun;
  for (const auto& s : steps)
    if (const auto* rec = j.find(s.name); rec && rec->begun && !rec->undone) begun.push_back({&s, rec->undo_data});
  out << fmt::format("undoing the adoption of {} (journal {}): {} step(s)\n", site.config().site, path, begun.size());
  remove_later_sets(site, ctx.green);
  core::JournalWriter journal(path);
  core::Executor ex(journal);
  auto failures = ex.undo(begun, timings);
  journal.append({"operation-end", "", failures.empty() ? "undone" : "undo-failed", 0, {{"resumed", true}}});
  return failures;
}

// The old stack answers again on its own published port (its Moodle, out of maintenance).
void wait_old_stack_serving(ports::Ports p, const StackFacts& f) {
  std::string url = fmt::format("http://127.0.0.1:{}/login/index.php", f.public_port);
  std::string host = core::host_of_url(f.wwwroot);
  core::poll_until(
      [&](std::string& why) {
        auto r = p.http.get(url, host, std::chrono::seconds(5));
        why = r.status ? fmt::format("HTTP {}", r.status) : r.transport_error;
        return r.status == 200;
      },
      kOldStackServeTimeout, fmt::format("the old stack does not answer 200 at {} after the undo", url), "docker logs " + f.web);
}

}  // namespace

AdoptOutcome adopt_undo(ports::Ports p, const std::string& site_name, const std::string& state_dir, Progress& progress, std::ostream& out) {
  AdoptOutcome o;
  o.operation = "adopt";
  o.site = site_name;
  auto last = last_adoption(state_dir);
  if (!last)
    throw UsageError(fmt::format("site {} has no adoption to undo (no adopt journal in {})", site_name, state_dir),
                     "adopt --undo undoes 'mupgrade adopt --from'; give the site's --site (and --state-dir if it was given)");
  auto& [path, j] = *last;
  auto cfg = site_config_from_json(j.args["config"]);
  auto facts = StackFacts::from_json(j.args.value("stack", json::object()));
  core::SiteLock lock(cfg.lock_path(), cfg.site, "mupgrade adopt --undo");
  if (auto st = core::load_site_state(cfg.state_dir); st && !st->live_set.empty() && st->live_set != j.args.value("green", ""))
    throw Error(fmt::format("site {} moved on since the adoption: set {} is live, not the adopted {}", cfg.site, st->live_set, j.args.value("green", "")),
                "run 'mupgrade rollback' until the adopted set is live again, then adopt --undo");
  o.journal = path;
  o.set = j.args.value("green", "");
  o.undo_failures = undo_adoption(p, path, j, progress, out, o.timings);
  if (!o.undo_failures.empty()) {
    o.error = "undoing the adoption failed at " + o.undo_failures.front();
    o.hint = fmt::format("fix the cause and run '{}' again (journal {})", adopt_undo_command(cfg.site, cfg.state_dir), path);
    return o;
  }
  wait_old_stack_serving(p, facts);
  core::remove_state_dir(cfg.state_dir);
  out << fmt::format("the stack {} serves again at {} (its containers {}, {}{}{}, its volumes as they were).\n", facts.from, facts.wwwroot,
                     facts.web, facts.db, facts.redis.empty() ? "" : " and ", facts.redis);
  o.ok = true;
  return o;
}

AdoptOutcome adopt_from(ports::Ports p, const AdoptRequest& given, Progress& progress, std::ostream& out) {
  AdoptRequest req = given;
  if (req.site.empty()) req.site = req.from;
  AdoptRequest named = given;  // the flags as given: what a recovery names again
  named.site = req.site;
  if (!plain(req.site))
    throw UsageError(fmt::format("--site '{}' is not a site name (letters, digits, - and _; at most 40)", req.site), "pass --site NAME");
  if (req.pool.empty()) req.pool = "/srv/mupgrade-pool/" + req.site;
  if (req.state_dir.empty()) req.state_dir = "/var/lib/mupgrade/" + req.site;
  if (req.config_file.empty()) req.config_file = "/etc/mupgrade/" + req.site + ".yml";
  if (req.proxy_image.empty()) req.proxy_image = req.proxy_kind == "nginx" ? "mupgrade/nginx-proxy:1.22" : "mupgrade/haproxy:2.6";
  for (const auto& [flag, path] : {std::pair{"--pool", req.pool}, {"--state-dir", req.state_dir}, {"--config", req.config_file}})
    if (path.empty() || path[0] != '/') throw UsageError(fmt::format("{} '{}' is not an absolute path", flag, path), "give a path starting with /");
  AdoptOutcome o;
  o.operation = "adopt";
  o.dry_run = !req.yes;
  o.site = req.site;
  o.config_file = req.config_file;

  // An adoption a crash interrupted is undone first: the stack serves again, then adopt starts over.
  if (!core::state_files(req.state_dir, "").empty()) {
    auto last = last_adoption(req.state_dir);
    bool live = core::read_state_file(req.state_dir + "/site.json").has_value();
    bool interrupted = last && !live && (!last->second.finished || last->second.outcome != "ok");
    // Killed before its journal existed: nothing was made but the state dir (and its lock).
    bool before_journal = !last && !live && !core::read_state_file(req.state_dir + "/journal/last");
    if (before_journal) {
      if (!o.dry_run) core::remove_state_dir(req.state_dir);
    } else if (!interrupted)
      throw UsageError(fmt::format("site {} exists already ({} holds its state)", req.site, req.state_dir),
                       fmt::format("'mupgrade status --site {}' shows it; 'mupgrade adopt --undo --site {}' undoes an adoption", req.site, req.site));
    else if (o.dry_run)
      throw UsageError(fmt::format("an adoption of {} was interrupted", req.site),
                       fmt::format("run '{}' (the stack back) or '{}' (undone first, then adopted again)",
                                   adopt_undo_command(req.site, req.state_dir), adopt_command(named)));
    else if (auto r = adopt_undo(p, req.site, req.state_dir, progress, out); !r.ok)
      return r;
  }

  auto d = discover_stack(p, req.from);
  auto cfg = adopt_site_config(req, d.facts);
  std::string set = core::make_set_id(d.facts.release, core::utc_compact_now());
  o.set = o.green = set;
  o.public_url = cfg.public_url;
  o.proxy_url = cfg.proxy.url;
  preflight(p, req, cfg, d.facts);
  choose_owners(p, cfg, d.facts);
  AdoptInputs ain{d.facts, adopted_config_php(d.config_php, d.facts.redis_sessions), d.redis_auth};
  print_plan(req, cfg, d.facts, set, out);
  if (o.dry_run) {
    out << "steps (each undone by 'mupgrade adopt --undo'):\n" << core::render_plan(planned_steps())
        << "nothing changed: run it again with --yes to adopt.\n";
    o.ok = true;
    return o;
  }

  InitInputs in;
  in.db_password = d.mupgrade_db_password;
  in.config_file = req.config_file;
  in.config_text = core::render_site_yaml(cfg, "adopt");
  Site site(cfg, p);
  // The lock holds the command itself: killed before its journal, `status` names it again.
  core::SiteLock lock(cfg.lock_path(), cfg.site, adopt_command(named));
  StepContext ctx;
  ctx.operation = "adopt";
  ctx.green = set;
  ctx.progress = &progress;
  ctx.init = &in;
  ctx.adopt = &ain;
  auto steps = steps_by_name(site, ctx, adopt_step_names());
  core::RunResult result;
  {
    core::JournalWriter journal(site.new_journal_path("adopt", kAdoptJournalPointer));
    o.journal = journal.path();
    result = run_steps(journal, ctx, steps, progress,
                       {{"config", site_config_to_json(cfg)}, {"stack", d.facts.to_json()}, {"request", named.to_json()}});
  }
  o.take(result);
  o.downtime_s = result.window_seconds;
  if (!o.ok && o.undo_failures.empty()) {
    core::remove_state_dir(cfg.state_dir);  // every step undone: the stack serves as before
    o.hint = o.hint.empty() ? "every step was undone: the stack runs as before" : o.hint;
  } else if (!o.ok) {
    o.hint = fmt::format("some undos failed; fix the cause and run '{}' (journal {})", adopt_undo_command(cfg.site, cfg.state_dir), o.journal);
  }
  return o;
}

}  // namespace mupgrade::ops
