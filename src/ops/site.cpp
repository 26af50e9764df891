#include "mupgrade/ops/site.hpp"

#include "mupgrade/core/atomic_file.hpp"
#include "mupgrade/core/poll.hpp"
#include "mupgrade/core/site_files.hpp"

#include <fmt/format.h>

#include <cctype>
#include <cstdlib>
#include <future>

namespace mupgrade::ops {

using Clock = std::chrono::steady_clock;

namespace {
// www-data in the project's web image and in Debian's: Moodle's maintenance.php --disable
// must be able to remove the file mupgrade writes.
constexpr unsigned kWebUid = 33;
const char* kMaintenancePage =
    "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
    "<h1>This site is being upgraded and will be back in a moment.</h1></body></html>";
}  // namespace

Site::Site(core::SiteConfig cfg, ports::Ports ports) : cfg_(std::move(cfg)), layout_(cfg_), ports_(ports) {
  core::ensure_state_dir(cfg_.state_dir, 0700);
}

bool Site::set_exists(const std::string& set) { return ports_.storage.is_subvolume(paths(set).db); }

Secret Site::db_password() {
  if (!cfg_.db.password_file.empty()) {
    std::string pw = core::read_state_file(cfg_.db.password_file).value_or("");
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    if (pw.empty())
      throw UsageError(fmt::format("cannot read the DB password from {} (missing or empty)", cfg_.db.password_file),
                       "create the file (mode 600) holding only the password");
    return Secret(pw);
  }
  const char* v = std::getenv(cfg_.db.password_env.c_str());
  if (!v || !*v) throw UsageError(fmt::format("the environment variable {} (db.password_env) is not set", cfg_.db.password_env), "export it before running mupgrade");
  return Secret(v);
}

// DB containers read the password from a file; with password_env mupgrade writes one (0600).
std::string Site::secrets_file() {
  if (!cfg_.db.password_file.empty()) return cfg_.db.password_file;
  std::string path = cfg_.state_dir + "/db_password";
  core::write_file_atomically(path, db_password().reveal(), 0600);
  return path;
}

ports::DbEndpoint Site::db_endpoint(const std::string& set) {
  auto info = ports_.containers.inspect_container(db_container(set));
  if (!info || !info->running)
    throw Error(fmt::format("the DB container of set {} is not running", set), "mupgrade status shows the sets; docker start " + db_container(set));
  ports::DbEndpoint ep;
  ep.kind = cfg_.db.kind;
  int port = layout_.db_port();
  if (is_clone(set)) {
    // A clone's network is internal: nothing is published, the host reaches it on the bridge.
    auto ip = info->network_ips.find(set_network(set));
    if (ip == info->network_ips.end()) throw Error(fmt::format("{} has no address on {}", db_container(set), set_network(set)), "remove the clone: mupgrade prune");
    ep.host = ip->second;
    ep.port = port;
  } else {
    ep.port = info->host_ports.count(port) ? info->host_ports.at(port) : 0;
    if (ep.port == 0) throw Error(fmt::format("{} publishes no port on 127.0.0.1", db_container(set)), "recreate the set's DB container with mupgrade");
  }
  ep.user = cfg_.db.user;
  ep.password = db_password();
  ep.database = cfg_.db.name;
  ep.prefix = table_prefix(set);
  return ep;
}

std::optional<std::string> Site::config_php_prefix(const std::string& set) {
  auto text = ports_.storage.read_file(paths(set).code + "/config.php");
  if (!text) return std::nullopt;
  return core::config_php_setting(*text, "prefix");
}

std::string Site::table_prefix(const std::string& set) {
  if (auto it = prefixes_.find(set); it != prefixes_.end()) return it->second;
  auto p = config_php_prefix(set);
  if (!p) return cfg_.db.prefix;  // not cached: green's config.php may not be written yet
  return prefixes_[set] = *p;
}

ports::ProxySite Site::proxy_site() const {
  return {cfg_.proxy.kind, cfg_.proxy.container, cfg_.proxy.config_dir, cfg_.proxy.url, cfg_.public_host};
}

std::unique_ptr<ports::Proxy> Site::proxy() { return ports_.proxies.open(proxy_site()); }

void Site::ensure_proxy_running() {
  auto info = ports_.containers.inspect_container(cfg_.proxy.container);
  if (!info || info->running) return;
  ports_.containers.start_container(cfg_.proxy.container);
  core::poll_until(
      [&](std::string& why) {
        try {
          proxy()->check_ready();
          return true;
        } catch (const Error& e) {
          why = e.what();
          return false;
        }
      },
      std::chrono::seconds(15), fmt::format("the proxy container {} did not answer after a restart", cfg_.proxy.container),
      fmt::format("docker logs {}", cfg_.proxy.container), std::chrono::milliseconds(50));
}

ports::Backend Site::backend(const std::string& set) {
  auto info = ports_.containers.inspect_container(web_container(set));
  std::string ip = info && info->network_ips.count(cfg_.network) ? info->network_ips.at(cfg_.network) : "";
  return {set, web_container(set), ip, cfg_.web_port};
}

core::CodeLayout Site::code_layout(const std::string& code_dir) {
  return core::CodeLayout{ports_.storage.exists(code_dir + "/" + core::CodeLayout{true}.version_file())};
}

moodle::MoodleCli Site::cli(const std::string& set) {
  return moodle::MoodleCli(ports_.containers, web_container(set),
                           moodle::CodeLayout{core::kContainerCodeRoot, code_layout(paths(set).code).public_dir});
}

void Site::ensure_set_network(const std::string& set) {
  if (!ports_.containers.network(set_network(set)))
    ports_.containers.create_network(set_network(set), layout_.labels(set), is_clone(set));
}

void Site::create_db(const std::string& set) {
  bool maria = cfg_.db.kind == core::DbKind::mariadb;
  ensure_set_network(set);
  if (ports_.containers.inspect_container(db_container(set))) return;
  ports::ContainerSpec spec;
  spec.name = db_container(set);
  spec.image = cfg_.db.image;
  spec.labels = layout_.labels(set, "db");
  spec.network = set_network(set);
  spec.network_aliases = {"db"};
  spec.mounts = {{paths(set).db, layout_.db_data_dir(), false}, {secrets_file(), "/run/secrets/db_password", true}};
  if (maria) spec.env = {{"MARIADB_ROOT_PASSWORD_FILE", "/run/secrets/db_password"}, {"MARIADB_DATABASE", cfg_.db.name}};
  else spec.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/db_password"}, {"POSTGRES_DB", cfg_.db.name}};
  if (!is_clone(set)) spec.ports = {{layout_.db_port(), 0, "127.0.0.1"}};
  spec.stop_signal = core::engine_of(cfg_.db.kind).stop_signal;
  spec.stop_timeout_s = 60;
  ports_.containers.create_container(spec);
}

namespace {
std::string web_images_file(const core::SiteConfig& cfg) { return cfg.state_dir + "/web-images.json"; }

nlohmann::json read_web_images(const core::SiteConfig& cfg) {
  auto text = core::read_state_file(web_images_file(cfg));
  auto j = text ? nlohmann::json::parse(*text, nullptr, false) : nlohmann::json::object();
  return j.is_object() ? j : nlohmann::json::object();
}

std::string proxy_config_mount(core::ProxyKind kind) {
  return kind == core::ProxyKind::haproxy ? "/usr/local/etc/haproxy" : "/etc/nginx/mupgrade";
}
}  // namespace

std::string Site::web_image_of(const std::string& set) {
  if (auto info = ports_.containers.inspect_container(web_container(set))) return info->image;
  return read_web_images(cfg_).value(set, cfg_.web_image);
}

bool Site::ensure_site_network() {
  if (ports_.containers.network(cfg_.network)) return false;
  ports_.containers.create_network(cfg_.network, {{"mupgrade.site", cfg_.site}}, false);
  return true;
}

void Site::create_proxy_container() {
  ports::ContainerSpec spec;
  spec.name = cfg_.proxy.container;
  spec.image = cfg_.proxy.image.empty() ? std::string(core::default_proxy_image(cfg_.proxy.kind)) : cfg_.proxy.image;
  spec.labels = {{"mupgrade.site", cfg_.site}, {"mupgrade.role", "proxy"}};
  spec.mounts = {{cfg_.proxy.config_dir, proxy_config_mount(cfg_.proxy.kind), false}};
  spec.ports = {{80, core::port_of_url(cfg_.proxy.url), "127.0.0.1"}};
  spec.network = cfg_.network;
  spec.stop_timeout_s = 10;
  ports_.containers.create_container(spec);
}

void Site::create_web(const std::string& set, const std::string& image) {
  ensure_set_network(set);
  if (ports_.containers.inspect_container(web_container(set))) return;
  if (!is_clone(set)) {
    // `up` recreates a removed web container from the image it had, which the config may no
    // longer name (target.image after a cutover).
    auto images = read_web_images(cfg_);
    images[set] = image;
    core::write_file_atomically(web_images_file(cfg_), images.dump(2) + "\n", 0600);
  }
  auto code = code_layout(paths(set).code);
  ports::ContainerSpec spec;
  spec.name = web_container(set);
  spec.image = image;
  spec.labels = layout_.labels(set, "web");
  spec.network = set_network(set);
  spec.mounts = {{paths(set).code, core::kContainerCodeRoot, true}, {paths(set).moodledata, core::kContainerMoodledata, false}};
  spec.env = {{"MUPGRADE_SET", set}, {"MOODLE_HTTP_PORT", std::to_string(cfg_.web_port)}, {"MOODLE_WEBROOT", code.web_root()}};
  if (!is_clone(set)) spec.ports = {{cfg_.web_port, 0, "127.0.0.1"}};
  spec.stop_timeout_s = 30;
  if (auto cache = opcache_file_cache_of(image); cache && ports_.storage.is_directory(paths(set).opcache()))
    spec.mounts.push_back({paths(set).opcache(), *cache, false});
  ports_.containers.create_container(spec);
  // A clone stays off the proxy's network: nothing public can reach it.
  if (!is_clone(set)) ports_.containers.connect_network(cfg_.network, web_container(set), {});
}

void Site::create_containers(const std::string& set, const std::string& web_image) {
  create_db(set);
  create_web(set, web_image);
  create_cache(set);
}

void Site::require_data(const std::string& set) {
  // Docker would create a missing bind source as an empty directory, and an empty data dir
  // makes the DB image initialise a new, empty database.
  std::vector<std::string> dirs = {paths(set).db, paths(set).moodledata, paths(set).code};
  if (cfg_.cache.enabled()) dirs.push_back(paths(set).cache);
  for (const auto& dir : dirs)
    if (!ports_.storage.is_directory(dir))
      throw Error(fmt::format("set {} has no {}; refusing to start its containers", set, dir),
                  "the set is incomplete: run 'mupgrade status' and 'mupgrade rollback' to finish the interrupted operation");
}

void Site::wait_db_ready(const std::string& set) {
  try {
    ports_.db.wait_ready(db_endpoint(set), kDbStartTimeout);
  } catch (const std::exception& e) {
    throw Error(fmt::format("the DB of set {} did not accept connections within {} s ({})", set, kDbStartTimeout.count(), e.what()),
                "docker logs " + db_container(set));
  }
}

void Site::wait_web_answering(const std::string& set) {
  std::string base = web_url(set);
  // A static file: Apache answers it without PHP, so the probe neither waits on a DB that is
  // still recovering nor takes CPU from it (Moodle's front page took 1.5 s here on real code).
  core::poll_until(
      [&](std::string& why) {
        auto r = ports_.http.get(base + core::kSwitchProbePath, host_header(set), std::chrono::milliseconds(1000));
        why = r.transport_error;
        return r.status != 0;
      },
      kWebStartTimeout, fmt::format("the web container of set {} did not answer", set), "docker logs " + web_container(set));
}

SetStartTimes Site::start_set(const std::string& set, const std::string& web_image, WebStart web_start) {
  create_containers(set, web_image);
  attach_set_network(set);
  // A set made before the site had a cache service gets an empty one (a new Redis is empty).
  if (cfg_.cache.enabled() && ports_.storage.is_directory(paths(set).db) && !ports_.storage.exists(paths(set).cache))
    ports_.storage.create_subvolume(paths(set).cache);
  require_data(set);
  SetStartTimes times;
  times.opcache = check_seeded_opcache(set);
  auto t0 = Clock::now();
  // The web server does not need the DB to start, so both containers start at once and the DB's
  // recovery overlaps Apache's start: about one container start is saved from the window.
  auto web = std::async(std::launch::async, [&] {
    ports_.containers.start_container(web_container(set));
    if (web_start == WebStart::answering) wait_web_answering(set);
    return Clock::now() - t0;
  });
  try {
    // The cache loads its dump while the DB recovers; Moodle needs both before its first page.
    if (cfg_.cache.enabled()) ports_.containers.start_container(cache_container(set));
    ports_.containers.start_container(db_container(set));
    wait_db_ready(set);
    if (cfg_.cache.enabled()) wait_cache_ready(set);
    times.db_ready = Clock::now() - t0;
  } catch (...) {
    try { web.get(); } catch (...) {}  // never leave the thread running past this frame
    throw;
  }
  times.web_ready = web.get();
  return times;
}

std::string Site::check_seeded_opcache(const std::string& set) {
  std::string marker = paths(set).opcache() + "/" + core::kOpcacheFreshMarker;
  auto seeded = ports_.storage.read_file(marker);
  if (!seeded) return "";
  if (seeded->empty()) return "filled as it serves";  // a clone's empty cache
  auto now = ports_.storage.generation(paths(set).code);
  if (*seeded == std::to_string(now)) return "from the rehearsal's clone";
  // Scripts compiled from other code would run in place of the changed files.
  ports_.storage.remove(marker);
  return fmt::format("not used: the code changed after seed-opcache (generation {} -> {})", *seeded, now);
}

bool Site::ensure_set_running(const std::string& set) {
  auto web = ports_.containers.inspect_container(web_container(set));
  auto db = ports_.containers.inspect_container(db_container(set));
  auto cache = cfg_.cache.enabled() ? ports_.containers.inspect_container(cache_container(set)) : std::nullopt;
  if (web && web->running && db && db->running && (!cfg_.cache.enabled() || (cache && cache->running))) return false;
  start_set(set, web ? web->image : cfg_.web_image);
  return true;
}

void Site::stop_set(const std::string& set) {
  for (const auto& c : containers_of(set)) {
    auto info = ports_.containers.inspect_container(c);
    if (info && info->running) ports_.containers.stop_container(c, kStopGrace);
  }
  release_set_network(set);
}

// A stopped set holds no network: Docker's default address pools give a host room for about
// thirty, shared with everything else on it. start_set makes it again.
void Site::release_set_network(const std::string& set) {
  if (!ports_.containers.network(set_network(set))) return;
  auto attached = containers_of(set);
  attached.insert(attached.begin(), layout_.verify_container(set));
  for (const auto& c : attached)
    if (auto info = ports_.containers.inspect_container(c); info && info->network_ips.count(set_network(set)))
      ports_.containers.disconnect_network(set_network(set), c);
  ports_.containers.remove_network(set_network(set));
}

// A set stopped before holds its containers but not their network: attach them again.
void Site::attach_set_network(const std::string& set) {
  ensure_set_network(set);
  std::vector<std::pair<std::string, std::vector<std::string>>> members = {{db_container(set), {"db"}}, {web_container(set), {}}};
  if (cfg_.cache.enabled()) members.push_back({cache_container(set), {core::kCacheAlias}});
  for (const auto& [c, aliases] : members)
    if (auto info = ports_.containers.inspect_container(c); info && !info->network_ips.count(set_network(set)))
      ports_.containers.connect_network(set_network(set), c, aliases);
}

void Site::remove_containers(const std::string& set) {
  for (const auto& c : containers_of(set)) {
    auto info = ports_.containers.inspect_container(c);
    if (info && info->running) ports_.containers.stop_container(c, kStopGrace);
  }
  // The cache container is removed even when the site no longer configures one.
  for (const auto& n : {layout_.verify_container(set), web_container(set), db_container(set), cache_container(set)})
    if (ports_.containers.inspect_container(n)) ports_.containers.remove_container(n, true);
  if (ports_.containers.network(set_network(set))) ports_.containers.remove_network(set_network(set));
}

namespace {
std::optional<std::string> opcache_label(const std::optional<ports::ImageInfo>& info) {
  if (!info) return std::nullopt;
  auto it = info->labels.find(core::kOpcacheFileCacheLabel);
  if (it == info->labels.end() || it->second.empty() || it->second[0] != '/') return std::nullopt;
  return it->second;
}
}  // namespace

std::optional<std::string> Site::opcache_file_cache_of(const std::string& image) { return opcache_label(ports_.containers.image(image)); }

std::string Site::opcache_key(const std::string& set, const std::string& image) {
  auto info = ports_.containers.image(image);
  if (!opcache_label(info)) return "";
  // The image's id ("sha256:<hex>"), as a file name.
  std::string id;
  for (char ch : info->id.substr(info->id.find(':') + 1))
    if (std::isalnum(static_cast<unsigned char>(ch)) && id.size() < 12) id += ch;
  // config.php differs from set to set; the image's entrypoint keeps it out of the cache.
  return ports_.storage.tree_fingerprint(paths(set).code, "config.php") + "-" + id;
}

std::string Site::seed_opcache(const std::string& set, const std::string& image) {
  std::string dir = paths(set).opcache();
  // A clone's empty cache needs no key: keep-opcache fingerprints the code it ran.
  if (is_clone(set)) {
    if (!opcache_file_cache_of(image)) return "";
    delete_if_subvolume(dir);  // an interrupted earlier attempt's
    ports_.storage.create_subvolume(dir);
    ports_.storage.write_file(dir + "/" + core::kOpcacheFreshMarker, "", {0, 0, 0644});
    return dir;
  }
  std::string key = opcache_key(set, image);
  if (key.empty()) return "";
  std::string kept = cfg_.opcache_dir() + "/" + key;
  delete_if_subvolume(dir);  // an interrupted earlier attempt's
  if (!ports_.storage.is_subvolume(kept)) return "";
  ports_.storage.snapshot(kept, dir);
  // The fingerprint holds for the code as it is now; the marker carries the code subvolume's
  // generation, so the start can tell that nothing (a site's host step, say) changed it since.
  ports_.storage.sync(paths(set).code);
  ports_.storage.write_file(dir + "/" + core::kOpcacheFreshMarker, std::to_string(ports_.storage.generation(paths(set).code)), {0, 0, 0644});
  return kept;
}

std::string Site::keep_opcache(const std::string& clone, const std::string& image) {
  std::string key = opcache_key(clone, image), dir = paths(clone).opcache();
  if (key.empty() || !ports_.storage.is_subvolume(dir)) return "";
  // One kept cache: the newest rehearsal's code is the next cutover's.
  ports_.storage.make_dirs(cfg_.opcache_dir());
  for (const auto& name : ports_.storage.list_dir(cfg_.opcache_dir())) delete_if_subvolume(cfg_.opcache_dir() + "/" + name);
  std::string kept = cfg_.opcache_dir() + "/" + key;
  ports_.storage.snapshot(dir, kept);
  return kept;
}

void Site::delete_if_subvolume(const std::string& path) {
  if (ports_.storage.is_subvolume(path)) ports_.storage.delete_subvolume(path);
}

void Site::remove_set(const std::string& set) {
  remove_containers(set);
  auto p = paths(set);
  for (const auto& sub : {p.db, p.moodledata, p.code, p.cache, p.verify_moodledata(), p.opcache()}) delete_if_subvolume(sub);
  ports_.storage.remove_tree(p.dir);
}

std::string Site::save_log(const std::string& name, const std::string& text) const {
  core::ensure_state_dir(cfg_.state_dir + "/logs");
  std::string path = cfg_.state_dir + "/logs/" + name;
  core::write_file_atomically(path, text, 0600);
  return path;
}

bool Site::web_running(const std::string& set) {
  auto info = ports_.containers.inspect_container(web_container(set));
  return info && info->running;
}

void Site::maintenance_file(const std::string& set, bool on) {
  std::string path = paths(set).maintenance_file();
  if (!on) {
    ports_.storage.remove(path);
    return;
  }
  if (ports_.storage.exists(path)) return;
  ports_.storage.write_file(path, kMaintenancePage, {kWebUid, kWebUid, 0644});
}

bool Site::maintenance_file_present(const std::string& set) { return ports_.storage.exists(paths(set).maintenance_file()); }

void Site::lay_out_code(const std::string& from, const std::string& to) {
  if (ports_.storage.is_subvolume(from)) {
    ports_.storage.snapshot(from, to);
    return;
  }
  // cp shares the extents (reflink) when the tree is on the same btrfs, and keeps owners and modes.
  ports_.storage.create_subvolume(to);
  auto r = ports_.commands.run({"/bin/cp", "-a", "--reflink=auto", from + "/.", to + "/"}, {}, kCopyTimeout);
  if (r.exit_code != 0)
    throw Error(fmt::format("copying {} into {} failed: {}", from, to, r.output.substr(0, r.output.find('\n'))),
                "check the target tree and the free space in the pool");
}

bool Site::install_live_config(const std::string& live_set, const std::string& code) {
  std::string from = paths(live_set).code + "/config.php", to = code + "/config.php";
  bool had_own = ports_.storage.exists(to);
  auto text = ports_.storage.read_file(from);
  auto mode = ports_.storage.file_mode(from);
  if (!text || !mode) throw Error(fmt::format("cannot read the live set's {}", from), "check the live set's code subvolume");
  ports_.storage.write_file(to, *text, *mode);
  return had_own;
}

core::VersionFile parse_checked_version(const std::string& text, const std::string& where) {
  auto vf = core::parse_version_php(text);
  if (!vf.version)
    throw Error(fmt::format("{}: cannot read $version ({})", where, vf.unparseable.empty() ? "missing" : "not a literal: " + vf.unparseable),
                "check the release's version.php");
  return vf;
}

core::VersionFile Site::code_version(const std::string& code_dir) {
  std::string file = code_dir + "/" + code_layout(code_dir).version_file();
  auto text = ports_.storage.read_file(file);
  if (!text) throw Error(fmt::format("{} holds no Moodle code (no version.php)", code_dir), "point target.code at a Moodle release");
  return parse_checked_version(*text, file);
}

std::string Site::db_config_value(const std::string& set, const std::string& name) {
  return ports_.db.config_value(db_endpoint(set), name).value_or("");
}

std::string Site::web_url(const std::string& set) {
  auto info = ports_.containers.inspect_container(web_container(set));
  if (!info || !info->running) throw Error(fmt::format("the web container of set {} is not running", set), "mupgrade status shows the sets");
  if (is_clone(set)) {
    auto ip = info->network_ips.find(set_network(set));
    if (ip == info->network_ips.end()) throw Error(fmt::format("{} has no address on {}", web_container(set), set_network(set)));
    return fmt::format("http://{}:{}", ip->second, cfg_.web_port);
  }
  auto port = info->host_ports.find(cfg_.web_port);
  if (port == info->host_ports.end()) throw Error(fmt::format("{} publishes no port on 127.0.0.1", web_container(set)));
  return fmt::format("http://127.0.0.1:{}", port->second);
}

ports::HttpResponse Site::get(const std::string& set, const std::string& path) {
  return ports_.http.get(web_url(set) + path, host_header(set), kPageTimeout);
}

void Site::health_check(const std::string& set) {
  auto r = get(set, "/login/index.php");
  if (r.status != 200)
    throw Error(fmt::format("set {} answers its login page with {} (Host: {})", set,
                            r.status ? fmt::format("HTTP {}{}", r.status, r.headers.count("location") ? " to " + r.headers["location"] : "") : r.transport_error,
                            host_header(set)),
                "a redirect means wwwroot and the public Host/port differ (README, 'Ports')");
  // A site's own web image may send no identity (the proxy adds it): a wrong one is the error.
  if (auto id = r.headers.find("x-mupgrade-set"); id != r.headers.end() && id->second != set)
    throw Error(fmt::format("the answer on set {}'s port came from set '{}'", set, id->second));
}

bool Site::serves_publicly(const std::string& set, std::string* seen) {
  auto r = ports_.http.get(cfg_.proxy.url + "/login/index.php", cfg_.public_host, kPageTimeout);
  std::string from = r.headers.count("x-mupgrade-set") ? r.headers["x-mupgrade-set"] : "";
  if (seen) *seen = r.status ? fmt::format("HTTP {} from '{}'", r.status, from) : r.transport_error;
  return r.status == 200 && from == set;
}

void Site::wait_serving(const std::string& set) {
  core::poll_until([&](std::string& why) { return serves_publicly(set, &why); }, kProxyStartTimeout,
                   fmt::format("the site did not answer from set {} through {}", set, cfg_.proxy.url), "docker logs " + cfg_.proxy.container,
                   std::chrono::milliseconds(100));
}

std::string Site::new_journal_path(const std::string& operation, const std::string& pointer) const {
  core::ensure_state_dir(cfg_.state_dir + "/journal");
  std::string path = fmt::format("{}/journal/{}-{}.jsonl", cfg_.state_dir, core::utc_compact_now(), operation);
  core::write_file_atomically(cfg_.state_dir + "/journal/" + pointer, path + "\n", 0600);
  return path;
}

std::string Site::last_journal_path(const std::string& pointer) const {
  std::string p = core::read_state_file(cfg_.state_dir + "/journal/" + pointer).value_or("");
  while (!p.empty() && p.back() == '\n') p.pop_back();
  return p;
}

}  // namespace mupgrade::ops
