#include "mupgrade/ops/site.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

namespace mupgrade::ops {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
// Tables whose new rows mean users wrote something (the contract's write probes).
const char* kProbeTables[] = {"files", "question_attempt_steps", "forum_posts", "grade_grades_history"};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
}  // namespace

long WriteCount::total() const {
  long n = logstore_writes;
  for (auto& [t, v] : per_table.items()) n += v.get<long>();
  return n;
}

std::string WriteCount::describe() const {
  std::string out = fmt::format("{} logged web/ws writes", logstore_writes);
  for (auto& [t, v] : per_table.items())
    if (v.get<long>() > 0) out += fmt::format(", {} new rows in mdl_{}", v.get<long>(), t);
  return out;
}

Site::Site(core::SiteConfig cfg, docker::DockerEngine& engine) : cfg_(std::move(cfg)), engine_(engine) {
  fs::create_directories(cfg_.state_dir);
  ::chmod(cfg_.state_dir.c_str(), 0700);
}

bool is_clone(const std::string& set) { return set.rfind(kClonePrefix, 0) == 0; }

SetPaths Site::paths(const std::string& set) const {
  std::string dir = (is_clone(set) ? cfg_.clones_dir() : cfg_.sets_dir()) + "/" + set;
  return {dir, dir + "/db", dir + "/moodledata", dir + "/code"};
}
std::string Site::db_container(const std::string& set) const { return fmt::format("mupgrade-{}-{}-db", cfg_.site, set); }
std::string Site::web_container(const std::string& set) const { return fmt::format("mupgrade-{}-{}-web", cfg_.site, set); }
std::string Site::set_network(const std::string& set) const { return fmt::format("mupgrade-{}-{}", cfg_.site, set); }
bool Site::set_exists(const std::string& set) const { return btrfs::is_subvolume(paths(set).db); }

Secret Site::db_password() const {
  if (!cfg_.db.password_file.empty()) {
    std::string pw = read_text(cfg_.db.password_file);
    while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
    if (pw.empty())
      throw Error(fmt::format("cannot read the DB password from {}", cfg_.db.password_file),
                  "create the file (mode 600) holding only the password");
    return Secret(pw);
  }
  const char* v = std::getenv(cfg_.db.password_env.c_str());
  if (!v || !*v) throw Error(fmt::format("the environment variable {} (db.password_env) is not set", cfg_.db.password_env), "export it before running mupgrade");
  return Secret(v);
}

// DB containers read the password from a file; with password_env mupgrade writes one (0600).
std::string Site::secrets_file() const {
  if (!cfg_.db.password_file.empty()) return cfg_.db.password_file;
  std::string path = cfg_.state_dir + "/db_password";
  std::ofstream(path) << db_password().reveal();
  ::chmod(path.c_str(), 0600);
  return path;
}

db::Endpoint Site::db_endpoint(const std::string& set) {
  auto info = engine_.inspect_container(db_container(set));
  bool maria = cfg_.db.kind == "mariadb";
  if (!info || !info->running)
    throw Error(fmt::format("the DB container of set {} is not running", set), "mupgrade status shows the sets; docker start " + db_container(set));
  db::Endpoint ep;
  ep.kind = maria ? db::Kind::mariadb : db::Kind::postgresql;
  int port = maria ? 3306 : 5432;
  if (is_clone(set)) {
    // A clone's network is internal: nothing is published, the host reaches it on the bridge.
    ep.host = info->network_ips.count(set_network(set)) ? info->network_ips.at(set_network(set)) : "";
    ep.port = port;
    if (ep.host.empty()) throw Error(fmt::format("{} has no address on {}", db_container(set), set_network(set)), "remove the clone: mupgrade prune");
  } else {
    ep.port = info->host_ports.count(port) ? info->host_ports.at(port) : 0;
    if (ep.port == 0) throw Error(fmt::format("{} publishes no port on 127.0.0.1", db_container(set)), "recreate the set's DB container with mupgrade");
  }
  ep.user = cfg_.db.user;
  ep.password = db_password();
  ep.database = cfg_.db.name;
  return ep;
}

proxy::ProxySite Site::proxy_site() const {
  return {cfg_.proxy.container, cfg_.proxy.config_dir, cfg_.proxy.url, cfg_.public_host};
}

std::unique_ptr<proxy::Proxy> Site::proxy() {
  return cfg_.proxy.kind == "nginx" ? proxy::make_nginx(engine_, proxy_site()) : proxy::make_haproxy(engine_, proxy_site());
}

proxy::Backend Site::backend(const std::string& set) {
  auto info = engine_.inspect_container(web_container(set));
  std::string ip = info && info->network_ips.count(cfg_.network) ? info->network_ips.at(cfg_.network) : "";
  return {set, web_container(set), ip, cfg_.web_port};
}

moodle::MoodleCli Site::cli(const std::string& set) {
  bool pub = fs::exists(paths(set).code + "/public/version.php");
  return moodle::MoodleCli(engine_, web_container(set), moodle::CodeLayout{"/var/www/moodle", pub});
}

void Site::ensure_set_network(const std::string& set) {
  if (!engine_.inspect_network(set_network(set)))
    engine_.create_network(set_network(set), {{"mupgrade.site", cfg_.site}, {"mupgrade.set", set}}, is_clone(set));
}

void Site::create_db(const std::string& set, const std::string& image) {
  bool maria = cfg_.db.kind == "mariadb";
  ensure_set_network(set);
  if (engine_.inspect_container(db_container(set))) return;
  docker::ContainerSpec spec;
  spec.name = db_container(set);
  spec.image = image.empty() ? cfg_.db.image : image;
  spec.labels = {{"mupgrade.site", cfg_.site}, {"mupgrade.set", set}, {"mupgrade.role", "db"}};
  spec.network = set_network(set);
  spec.network_aliases = {"db"};
  spec.mounts = {{paths(set).db, maria ? "/var/lib/mysql" : "/var/lib/postgresql/data", false},
                 {secrets_file(), "/run/secrets/db_password", true}};
  if (maria) spec.env = {{"MARIADB_ROOT_PASSWORD_FILE", "/run/secrets/db_password"}, {"MARIADB_DATABASE", cfg_.db.name}};
  else spec.env = {{"POSTGRES_PASSWORD_FILE", "/run/secrets/db_password"}, {"POSTGRES_DB", cfg_.db.name}};
  if (!is_clone(set)) spec.ports = {{maria ? 3306 : 5432, 0, "127.0.0.1"}};
  spec.stop_signal = maria ? "SIGTERM" : "SIGINT";
  spec.stop_timeout_s = 60;
  engine_.create_container(spec);
}

void Site::create_web(const std::string& set, const std::string& image) {
  ensure_set_network(set);
  if (engine_.inspect_container(web_container(set))) return;
  bool pub = fs::exists(paths(set).code + "/public/version.php");
  docker::ContainerSpec spec;
  spec.name = web_container(set);
  spec.image = image;
  spec.labels = {{"mupgrade.site", cfg_.site}, {"mupgrade.set", set}, {"mupgrade.role", "web"}};
  spec.network = set_network(set);
  spec.mounts = {{paths(set).code, "/var/www/moodle", true}, {paths(set).moodledata, "/var/www/moodledata", false}};
  spec.env = {{"MUPGRADE_SET", set}, {"MOODLE_HTTP_PORT", std::to_string(cfg_.web_port)},
              {"MOODLE_WEBROOT", pub ? "/var/www/moodle/public" : "/var/www/moodle"}};
  if (!is_clone(set)) spec.ports = {{cfg_.web_port, 0, "127.0.0.1"}};
  spec.stop_timeout_s = 30;
  engine_.create_container(spec);
  // A clone stays off the proxy's network: nothing public can reach it.
  if (!is_clone(set)) engine_.connect_network(cfg_.network, web_container(set));
}

void Site::create_containers(const std::string& set, const std::string& web_image) {
  create_db(set);
  create_web(set, web_image);
}

void Site::require_data(const std::string& set) const {
  // Docker would create a missing bind source as an empty directory, and an empty data dir
  // makes the DB image initialise a new, empty database.
  for (const auto& dir : {paths(set).db, paths(set).moodledata, paths(set).code})
    if (!fs::is_directory(dir))
      throw Error(fmt::format("set {} has no {}; refusing to start its containers", set, dir),
                  "the set is incomplete: run 'mupgrade status' and 'mupgrade rollback' to finish the interrupted operation");
}

void Site::wait_db_ready(const std::string& set) {
  try {
    db::connect_when_ready(db_endpoint(set), kSetStartTimeout);
  } catch (const std::exception& e) {
    throw Error(fmt::format("the DB of set {} did not accept connections within {} s ({})", set, kSetStartTimeout.count(), e.what()),
                "docker logs " + db_container(set));
  }
}

void Site::wait_web_ready(const std::string& set) {
  std::string base = web_url(set);
  auto until = Clock::now() + std::chrono::seconds(30);
  while (http::get(base + "/", host_header(set), std::chrono::milliseconds(1000)).status == 0) {
    if (Clock::now() > until) throw Error(fmt::format("the web container of set {} does not answer", set), "docker logs " + web_container(set));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Site::start_db(const std::string& set, const std::string& image) {
  create_db(set, image);
  require_data(set);
  engine_.start_container(db_container(set));
  wait_db_ready(set);
}

void Site::start_web(const std::string& set, const std::string& image) {
  create_web(set, image);
  require_data(set);
  engine_.start_container(web_container(set));
  wait_web_ready(set);
}

SetStartTimes Site::start_set(const std::string& set, const std::string& web_image) {
  create_containers(set, web_image);
  require_data(set);
  auto t0 = Clock::now();
  // The web server does not need the DB to start, so both containers start at once and the DB's
  // recovery overlaps Apache's start: about one container start is saved from the window.
  auto web = std::async(std::launch::async, [&] {
    engine_.start_container(web_container(set));
    wait_web_ready(set);
    return Clock::now() - t0;
  });
  SetStartTimes times;
  try {
    engine_.start_container(db_container(set));
    wait_db_ready(set);
    times.db_ready = Clock::now() - t0;
  } catch (...) {
    try { web.get(); } catch (...) {}  // never leave the thread running past this frame
    throw;
  }
  times.web_ready = web.get();
  return times;
}

void Site::stop_set(const std::string& set) {
  for (const auto& c : {web_container(set), db_container(set)}) {
    auto info = engine_.inspect_container(c);
    if (info && info->running) engine_.stop_container(c, std::chrono::seconds(60));
  }
}

void Site::remove_containers(const std::string& set) {
  stop_set(set);
  for (const auto& n : {web_container(set), db_container(set)})
    if (engine_.inspect_container(n)) engine_.remove_container(n, true);
  if (engine_.inspect_network(set_network(set))) engine_.remove_network(set_network(set));
}

void Site::remove_set(const std::string& set) {
  remove_containers(set);
  auto p = paths(set);
  for (const auto& sub : {p.db, p.moodledata, p.code, p.dir + "/verify-moodledata"})
    if (btrfs::is_subvolume(sub)) btrfs::delete_subvolume(sub);
  std::error_code ec;
  fs::remove_all(p.dir, ec);
}

std::string Site::save_log(const std::string& name, const std::string& text) const {
  fs::create_directories(cfg_.state_dir + "/logs");
  std::string path = cfg_.state_dir + "/logs/" + name;
  std::ofstream(path) << text;
  return path;
}

bool Site::web_running(const std::string& set) {
  auto info = engine_.inspect_container(web_container(set));
  return info && info->running;
}

void Site::maintenance_file(const std::string& set, bool on) {
  std::string path = paths(set).moodledata + "/climaintenance.html";
  if (!on) {
    fs::remove(path);
    return;
  }
  if (fs::exists(path)) return;
  std::string tmp = path + ".mupgrade-tmp";
  std::ofstream(tmp) << "<!DOCTYPE html><html><head><title>Maintenance</title></head><body>"
                        "<h1>This site is being upgraded and will be back in a moment.</h1></body></html>";
  ::chown(tmp.c_str(), 33, 33);  // www-data, so Moodle's maintenance.php --disable can remove it too
  fs::rename(tmp, path);
}

bool Site::maintenance_file_present(const std::string& set) const {
  return fs::exists(paths(set).moodledata + "/climaintenance.html");
}

core::VersionFile parse_checked_version(const std::string& text, const std::string& where) {
  auto vf = core::parse_version_php(text);
  if (!vf.version)
    throw Error(fmt::format("{}: cannot read $version ({})", where, vf.unparseable.empty() ? "missing" : "not a literal: " + vf.unparseable),
                "check the release's version.php");
  return vf;
}

core::VersionFile Site::code_version(const std::string& code_dir) const {
  std::string file = fs::exists(code_dir + "/public/version.php") ? code_dir + "/public/version.php" : code_dir + "/version.php";
  if (!fs::exists(file)) throw Error(fmt::format("{} holds no Moodle code (no version.php)", code_dir), "point target.code at a Moodle release");
  return parse_checked_version(read_text(file), file);
}

std::string Site::db_config_value(const std::string& set, const std::string& name) {
  auto c = db::connect(db_endpoint(set));
  return c->scalar(fmt::format("SELECT value FROM mdl_config WHERE name = '{}'", name)).value_or("");
}

nlohmann::json Site::watermark(const std::string& set) {
  auto c = db::connect(db_endpoint(set));
  nlohmann::json w;
  w["logstore_standard_log"] = std::stol(c->scalar("SELECT COALESCE(MAX(id), 0) FROM mdl_logstore_standard_log").value_or("0"));
  for (const char* t : kProbeTables)
    w[t] = std::stol(c->scalar(fmt::format("SELECT COALESCE(MAX(id), 0) FROM mdl_{}", t)).value_or("0"));
  return w;
}

WriteCount Site::writes_since(const std::string& set, const nlohmann::json& mark) {
  auto c = db::connect(db_endpoint(set));
  WriteCount n;
  n.logstore_writes = std::stol(c->scalar(fmt::format(
      "SELECT COUNT(*) FROM mdl_logstore_standard_log WHERE id > {} AND crud IN ('c','u','d') AND origin IN ('web','ws')",
      mark.value("logstore_standard_log", 0L))).value_or("0"));
  for (const char* t : kProbeTables)
    n.per_table[t] = std::stol(c->scalar(fmt::format("SELECT COUNT(*) FROM mdl_{} WHERE id > {}", t, mark.value(t, 0L))).value_or("0"));
  return n;
}

std::string Site::web_url(const std::string& set) {
  auto info = engine_.inspect_container(web_container(set));
  if (!info || !info->running) throw Error(fmt::format("the web container of set {} is not running", set), "mupgrade status shows the sets");
  if (is_clone(set)) {
    auto ip = info->network_ips.find(set_network(set));
    if (ip == info->network_ips.end()) throw Error(fmt::format("{} has no address on {}", web_container(set), set_network(set)));
    return fmt::format("http://{}:{}", ip->second, cfg_.web_port);
  }
  return fmt::format("http://127.0.0.1:{}", info->host_ports.at(cfg_.web_port));
}

std::string Site::clone_url() const {
  // Same scheme, port and path as production, on a name that can never resolve (RFC 2606).
  std::string host = cfg_.public_host, port;
  if (auto colon = host.rfind(':'); colon != std::string::npos) port = host.substr(colon);
  std::string scheme = cfg_.public_url.substr(0, cfg_.public_url.find("://"));
  auto path_at = cfg_.public_url.find('/', scheme.size() + 3);
  std::string path = path_at == std::string::npos ? "" : cfg_.public_url.substr(path_at);
  return scheme + "://" + std::string(kCloneHost) + port + path;
}

std::string Site::host_header(const std::string& set) const {
  return is_clone(set) ? core::host_of_url(clone_url()) : cfg_.public_host;
}

http::Response Site::get(const std::string& set, const std::string& path) {
  return http::get(web_url(set) + path, host_header(set), std::chrono::milliseconds(10000));
}

void Site::health_check(const std::string& set) {
  std::string url = web_url(set) + "/login/index.php";
  auto r = http::get(url, host_header(set), std::chrono::milliseconds(10000));
  if (r.status != 200)
    throw Error(fmt::format("set {} answers its login page with {} (Host: {})", set,
                            r.status ? fmt::format("HTTP {}{}", r.status, r.headers.count("location") ? " to " + r.headers["location"] : "") : r.transport_error,
                            host_header(set)),
                "a redirect means wwwroot and the public Host/port differ (README, 'Ports')");
  if (r.headers["x-mupgrade-set"] != set) throw Error(fmt::format("the answer on set {}'s port came from set '{}'", set, r.headers["x-mupgrade-set"]));
}

std::string Site::new_journal_path(const std::string& operation, const std::string& pointer) const {
  fs::create_directories(cfg_.state_dir + "/journal");
  std::string path = fmt::format("{}/journal/{}-{}.jsonl", cfg_.state_dir, core::utc_compact_now(), operation);
  core::write_file_atomically(cfg_.state_dir + "/journal/" + pointer, path + "\n", 0600);
  return path;
}

std::string Site::last_journal_path(const std::string& pointer) const {
  std::string p = read_text(cfg_.state_dir + "/journal/" + pointer);
  while (!p.empty() && p.back() == '\n') p.pop_back();
  return p;
}

}  // namespace mupgrade::ops
