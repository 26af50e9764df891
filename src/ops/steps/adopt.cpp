// The steps of `mupgrade adopt --from`: the first set filled from the running stack (a first
// copy while it serves), then the window: the old stack in maintenance and stopped, a delta
// copy, the set started behind the proxy. Each step journals its undo before it acts; undone
// newest first they stop the set and start the old stack again, as it was.
// init's steps are reused for what both do (password file, set start, proxy, site config).

#include "mupgrade/ops/adopt.hpp"
#include "mupgrade/ops/plans.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>
#include <map>
#include <set>
#include <stdexcept>

namespace mupgrade::ops {

using core::Phase;
using nlohmann::json;

namespace {

constexpr unsigned kWebUid = 33;  // www-data: README, what a web image must offer
constexpr const char* kRsync = "/usr/bin/rsync";
constexpr int kWholeDirAt = 16;  // changed entries under a plugin's dir from which it is copied whole
const std::chrono::seconds kOldStopGrace{60};
const char* kMaintenancePage =
    "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
    "<h1>This site is moving to a new home and will be back in a moment.</h1></body></html>";

const AdoptInputs& inputs(const StepContext& c) {
  if (!c.adopt) throw Error("adopt: the step ran without its inputs");
  return *c.adopt;
}

// rsync of one area into the set. The set's own files are never taken from the stack: its
// config.php (mupgrade writes it) and the maintenance flag (only the old stack is in maintenance).
void copy_area(Site& s, const std::string& from, const std::string& to, std::vector<std::string> extra, bool first_pass) {
  std::vector<std::string> argv = {kRsync, "-a", "--delete", "--numeric-ids"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(from + "/");
  argv.push_back(to + "/");
  auto r = s.ports().commands.run(argv, {}, kCopyTimeout);
  // 24: files vanished while a live site was copied; the final pass copies what changed since.
  if (r.exit_code != 0 && !(first_pass && r.exit_code == 24))
    throw Error(fmt::format("copying {} into {} failed (rsync exit {}): {}", from, to, r.exit_code, r.output.substr(0, r.output.find('\n'))),
                "check the free space in the pool; nothing of the stack was changed");
}

// The set's muc/config.php: its Redis store on the stack's Redis points at the set's.
void point_muc_at_set(Site& s, const StackFacts& f, const std::string& moodledata) {
  std::string file = moodledata + "/muc/config.php";
  auto& st = s.ports().storage;
  auto text = f.redis_muc ? st.read_file(file) : std::nullopt;
  if (!text) return;
  if (auto now = adopted_muc_config(*text, f.redis_host); now != *text) st.write_file(file, now, st.file_mode(file).value_or(ports::FileMode{kWebUid, kWebUid, 0640}));
}

// Code built into the web image comes out of the running container (its writable layer holds
// the plugins installed through Moodle's admin pages), extracted with the owners and modes it
// has there, as rsync -a keeps a volume's. The whole tree once, before the window (~340 MB, 39k
// files for 4.5: 13-20 s); config.php is the set's own (write-config-php).
void copy_code_from_container(Site& s, const StackFacts& f, const std::string& to) {
  if (!s.ports().containers.copy_from_container(f.web, f.code.container_path, to))
    throw Error(fmt::format("the code at {} is gone from {}", f.code.container_path, f.web), "check the stack's web container; nothing of it was changed");
}

// In the window, the stopped web container's layer against its image (docker diff) says which
// code a plugin installed, updated or removed through the admin pages since the image was
// built: those paths alone are brought in line, so nothing done after copy-live is lost and the
// cost follows what changed, not the tree. The listing cannot tell what changed before
// copy-live from what changed after: those paths (already in the set) are copied again, which
// is correct and cheap (a site's own plugins, not the tree).
json copy_code_changes(Site& s, const StackFacts& f, const std::vector<ports::FileChange>& changes, const std::string& to) {
  auto& containers = s.ports().containers;
  auto& storage = s.ports().storage;
  auto delta = code_delta(changes, f.code.container_path);
  for (const auto& rel : delta.remove) storage.remove_tree(to + "/" + rel);
  for (const auto& rel : delta.copy) {
    // What the set has there goes first: files removed from a re-copied dir, a file now a dir.
    storage.remove_tree(to + "/" + rel);
    containers.copy_from_container(f.web, f.code.container_path + "/" + rel, to + "/" + rel);
  }
  return {{"code_copied", delta.copy}, {"code_removed", delta.remove}};
}

// What the copy did that the journal keeps (the code paths the final pass re-copied).
json copy_stack(Site& s, StepContext& c, bool first_pass) {
  const auto& f = inputs(c).facts;
  auto p = s.paths(c.green);
  json out = json::object();
  // In the window, Docker's listing of the stopped web container's layer walks the whole image
  // tree (3.7-7.2 s for real Moodle 4.5.6, even with nothing changed): it runs while moodledata
  // and the DB dir are copied (I/O beside I/O), and is applied once both are done. Joined
  // before anything throws: the thread must not outlive this frame.
  std::future<std::vector<ports::FileChange>> listing;
  if (f.code.in_image() && !first_pass)
    listing = std::async(std::launch::async, [&s, &f] { return s.ports().containers.container_changes(f.web); });
  try {
    if (!f.code.in_image()) copy_area(s, f.code.host_path, p.code, {"--exclude=/config.php"}, first_pass);
    else if (first_pass) copy_code_from_container(s, f, p.code);
    copy_area(s, f.moodledata.host_path, p.moodledata,
              {fmt::format("--chown={}:{}", kWebUid, kWebUid), fmt::format("--exclude=/{}", core::kMaintenanceFile)}, first_pass);
    point_muc_at_set(s, f, p.moodledata);
    // A live DB's files change without changing size or mtime within a second: the final pass
    // (DB stopped) compares contents. Owned by the set's DB user when its image runs as another.
    std::vector<std::string> db_args;
    if (!first_pass) db_args.push_back("--checksum");
    if (f.db_uid) db_args.push_back(fmt::format("--chown={}:{}", f.db_uid, f.db_gid));
    copy_area(s, f.db_data.host_path, p.db, db_args, first_pass);
  } catch (...) {
    if (listing.valid()) try { listing.get(); } catch (...) {}
    throw;
  }
  if (listing.valid()) out = copy_code_changes(s, f, listing.get(), p.code);
  return out;
}

// The stack's Redis dump (saved with the web stopped) as the set's cache dump, owned by the
// set's Redis user.
void copy_redis_dump(Site& s, StepContext& c) {
  const auto& f = inputs(c).facts;
  if (f.redis.empty()) return;
  std::string from = f.cache_data.host_path + "/" + f.redis_dump, to = s.paths(c.green).cache + "/dump.rdb";
  auto r = s.ports().commands.run({kRsync, "-a", "--numeric-ids", fmt::format("--chown={}:{}", f.cache_uid, f.cache_gid), from, to}, {}, kCopyTimeout);
  if (r.exit_code != 0)
    throw Error(fmt::format("copying {} into {} failed (rsync exit {}): {}", from, to, r.exit_code, r.output.substr(0, r.output.find('\n'))),
                "check the free space in the pool; nothing of the stack was changed");
}

// SAVE (not BGSAVE: the web is stopped, nothing waits on Redis) writes every session and cache
// entry to the dump before Redis stops.
void save_old_redis(Site& s, StepContext& c) {
  const auto& f = inputs(c).facts;
  ports::ExecOptions o;
  o.cmd = {"redis-cli", "SAVE"};
  if (!inputs(c).redis_auth.reveal().empty()) o.env = {"REDISCLI_AUTH=" + inputs(c).redis_auth.reveal()};
  o.timeout = std::chrono::duration_cast<std::chrono::milliseconds>(kOldStopGrace);
  auto r = s.ports().containers.exec(f.redis, o);
  if (r.exit_code != 0 || r.out.rfind("OK", 0) != 0)
    throw Error(fmt::format("the stack's Redis {} did not save its dump ({})", f.redis, r.timed_out ? "timed out" : r.out.empty() ? r.err : r.out),
                "docker logs " + f.redis + "; the undo starts the stack again");
}

json copy_live(Site& s, StepContext& c, core::StepRun& r) {
  auto& storage = s.ports().storage;
  const auto& cfg = s.config();
  auto p = s.paths(c.green);
  r.remember({{"set", c.green}, {"pool_created", !storage.exists(cfg.pool)}, {"sets_created", !storage.exists(cfg.sets_dir())}});
  storage.make_dirs(p.dir);
  for (const auto& sub : {p.code, p.moodledata, p.db}) storage.create_subvolume(sub);
  if (cfg.cache.enabled()) storage.create_subvolume(p.cache);
  copy_stack(s, c, true);
  return {{"code", p.code}};
}

json old_maintenance_on(Site& s, StepContext& c, core::StepRun& r) {
  const auto& f = inputs(c).facts;
  std::string file = f.moodledata.host_path + "/" + core::kMaintenanceFile;
  bool existed = s.ports().storage.exists(file);
  r.remember({{"file", existed ? "" : file}});
  if (!existed) s.ports().storage.write_file(file, kMaintenancePage, {f.web_uid, f.web_uid, 0644});
  return {{"file", file}};
}

json stop_old_stack(Site& s, StepContext& c, core::StepRun& r) {
  const auto& f = inputs(c).facts;
  auto& containers = s.ports().containers;
  r.remember({{"web", f.web}, {"db", f.db}, {"redis", f.redis}});
  // The web first (requests in flight finish), then Redis and the DB, cleanly: their files are
  // then consistent.
  containers.stop_container(f.web, kStopGrace);
  if (!f.redis.empty()) {
    save_old_redis(s, c);
    containers.stop_container(f.redis, kOldStopGrace);
  }
  containers.stop_container(f.db, kOldStopGrace);
  auto db = containers.inspect_container(f.db);
  if (!db || db->running || db->exit_code != 0)
    throw Error(fmt::format("the stack's DB {} did not stop cleanly ({})", f.db, db ? fmt::format("{}, exit {}", db->status, db->exit_code) : "gone"),
                "docker logs " + f.db + "; the undo starts the stack again");
  return json::object();
}

// A stop adopt asked for before it was killed goes on in the daemon: the container still shows
// running and exits a moment later. So each is stopped first (that waits out a stop in flight,
// and is nothing for a stopped one), then started. Only the window runs this: the stack is in
// maintenance already.
void start_old_stack(Site& s, StepContext&, const json& data) {
  auto& containers = s.ports().containers;
  for (const char* key : {"db", "redis", "web"})
    if (auto name = data.value(key, ""); !name.empty())
      if (auto info = containers.inspect_container(name)) {
        if (info->running) containers.stop_container(name, kOldStopGrace);
        containers.start_container(name);
      }
}

const StepDef& init_def(const std::vector<StepDef>& t, const std::string& name) {
  auto it = std::find_if(t.begin(), t.end(), [&](const StepDef& d) { return d.name == name; });
  if (it == t.end()) throw std::logic_error("adopt reuses init's step " + name + ", which is missing");
  return *it;
}

// init's step, as adopt runs it (phase: where in the downtime it falls).
StepDef reuse(const std::vector<StepDef>& t, const std::string& name, Phase phase) {
  StepDef d = init_def(t, name);
  d.operations = {"adopt"};
  d.phase = phase;
  d.after.clear();
  return d;
}

// The dirs above a relative path, top-most first ("a/b/c": "a", "a/b").
std::vector<std::string> dirs_above(const std::string& rel) {
  std::vector<std::string> out;
  for (auto slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) out.push_back(rel.substr(0, slash));
  return out;
}

}  // namespace

CodeDelta code_delta(const std::vector<ports::FileChange>& changes, const std::string& code_dir) {
  using Kind = ports::FileChange::Kind;
  std::string prefix = code_dir;
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  prefix += '/';
  std::map<std::string, Kind> by_path;
  for (const auto& c : changes) {
    if (c.path.size() <= prefix.size() || c.path.compare(0, prefix.size(), prefix) != 0) continue;
    std::string rel = c.path.substr(prefix.size());
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    if (rel.empty()) continue;
    auto [it, fresh] = by_path.emplace(rel, c.kind);
    if (!fresh && it->second != c.kind) it->second = Kind::added;  // listed twice: replaced
  }
  auto any_above = [](const std::string& rel, const std::set<std::string>& dirs) {
    auto above = dirs_above(rel);
    return std::any_of(above.begin(), above.end(), [&](const std::string& a) { return dirs.count(a) > 0; });
  };
  std::set<std::string> listed_below;  // dirs with changes listed under them
  for (const auto& [rel, kind] : by_path)
    for (const auto& a : dirs_above(rel)) listed_below.insert(a);
  // Each change once, the top-most: a path under one copied or removed whole is left out.
  std::set<std::string> whole;
  std::vector<std::pair<std::string, bool>> each;  // path, copied (else removed)
  for (const auto& [rel, kind] : by_path) {
    if (rel == "config.php" || any_above(rel, whole)) continue;
    bool has_below = listed_below.count(rel) > 0;
    // Modified as the parent of what is listed (its own mode or mtime aside: the copies below
    // bring what matters).
    if (kind == Kind::modified && has_below) continue;
    // Deleted with entries listed under it: deleted and made again, as some storage drivers list it.
    each.emplace_back(rel, !(kind == Kind::deleted && !has_below));
    whole.insert(rel);
  }
  // overlay2 lists a plugin dir the admin pages replaced (an update) as modified with every old
  // file deleted and every new one added: below the code dir's own subdirs (mod/, local/: never
  // whole), a dir with many of them is copied whole, one archive call instead of one per file.
  std::map<std::string, int> under;
  for (const auto& [rel, copied] : each)
    for (const auto& a : dirs_above(rel))
      if (a.find('/') != std::string::npos) ++under[a];
  std::set<std::string> collapsed;
  for (const auto& [dir, n] : under)  // a dir sorts before what is under it: the top-most such dir
    if (n >= kWholeDirAt && !any_above(dir, collapsed)) collapsed.insert(dir);
  CodeDelta d;
  d.copy.assign(collapsed.begin(), collapsed.end());
  for (const auto& [rel, copied] : each)
    if (!any_above(rel, collapsed)) (copied ? d.copy : d.remove).push_back(rel);
  std::sort(d.copy.begin(), d.copy.end());
  return d;
}

void add_adopt_steps(std::vector<StepDef>& t) {
  std::vector<StepDef> add;
  add.push_back(reuse(t, "write-db-password", Phase::prepare));
  add.back().what = "the DB password mupgrade connects with, in <state_dir>/db_password (0600)";

  StepDef d;
  d.name = "copy-live";
  d.operations = {"adopt"};
  d.what = "the first set's subvolumes, filled from the stack while it serves (rsync: code, moodledata owned by www-data, DB data dir; "
           "code built into the web image: copied out of the running container)";
  d.undo_what = "remove the set (containers, network, subvolumes) and the dirs it made";
  d.run = copy_live;
  d.undo = init_def(t, "create-set").undo;
  add.push_back(d);

  d = {};
  d.name = "write-config-php";
  d.operations = {"adopt"};
  d.what = "the set's config.php: the stack's own, plus dbhost 'db' and dataroot /var/www/moodledata (mode 0640, group www-data)";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    s.ports().storage.write_file(s.paths(c.green).code + "/config.php", inputs(c).config_php, {0, kWebUid, 0640});
    return json::object();
  };
  add.push_back(d);

  d = {};
  d.name = "old-maintenance-on";
  d.phase = Phase::window;
  d.operations = {"adopt"};
  d.what = "the stack in Moodle's maintenance: climaintenance.html in its moodledata (the only change adopt makes to the stack's volumes)";
  d.undo_what = "remove that file";
  d.run = old_maintenance_on;
  d.undo = [](Site& s, StepContext&, const json& data) {
    if (auto f = data.value("file", ""); !f.empty()) s.ports().storage.remove(f);
  };
  add.push_back(d);

  d = {};
  d.name = "stop-old-stack";
  d.phase = Phase::window;
  d.operations = {"adopt"};
  d.what = "stop the stack's web container, then its Redis (after a SAVE) and its DB, cleanly (their data is then consistent)";
  d.undo_what = "start the stack's DB, Redis and web containers again";
  d.run = stop_old_stack;
  d.undo = start_old_stack;
  add.push_back(d);

  d = {};
  d.name = "copy-final";
  d.phase = Phase::window;
  d.operations = {"adopt"};
  d.what = "the delta since the first copy (the DB dir compared by content; code built into the image: the paths the stopped web "
           "container's layer changed, as docker diff lists them, copied out again or removed), and the stack's Redis dump into the "
           "set's cache dir";
  d.run = [](Site& s, StepContext& c, core::StepRun&) {
    json out = copy_stack(s, c, false);
    copy_redis_dump(s, c);
    return out;
  };
  add.push_back(d);

  add.push_back(reuse(t, "start-set", Phase::window));
  add.push_back(reuse(t, "start-proxy", Phase::window));
  add.back().what = "the proxy's config (traffic to the set), its container on 127.0.0.1:<the stack's public port>; the set seen through it";
  add.push_back(reuse(t, "write-site-config", Phase::after));
  add.push_back(reuse(t, "register-live-set", Phase::after));
  t.insert(t.end(), add.begin(), add.end());
}

/// The order adopt runs its steps in.
const std::vector<std::string>& adopt_step_names() {
  static const std::vector<std::string> names = {"write-db-password", "copy-live",  "write-config-php", "old-maintenance-on",
                                                 "stop-old-stack",    "copy-final", "start-set",        "start-proxy",
                                                 "write-site-config", "register-live-set"};
  return names;
}

}  // namespace mupgrade::ops
