// adopt's discovery: from a Compose project (containers labelled com.docker.compose.project)
// or a web container, the web container (the one whose mounts hold Moodle's code, else whose
// own files do: code built into its image, adopt_image.cpp), the DB container its config.php
// names, where code, moodledata and the DB data dir are on this host, and the checks that make
// adopt refuse. Reads only: containers, files, the DB's config table.

#include "adopt_discover.hpp"

#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/core/site_config.hpp"
#include "mupgrade/core/site_files.hpp"
#include "mupgrade/ops/site.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cstdlib>

namespace mupgrade::ops {

using nlohmann::json;

namespace adopt_detail {

std::string mount_label(const ports::MountInfo& m) { return m.type == "volume" ? "volume " + m.name : m.type; }

std::optional<std::pair<ports::MountInfo, std::string>> host_path_of(const ports::ContainerInfo& c, const std::string& path) {
  std::optional<std::pair<ports::MountInfo, std::string>> best;
  size_t best_len = 0;
  for (const auto& m : c.mounts) {
    if (m.source.empty() || m.destination.empty()) continue;
    bool inside = path == m.destination || (path.rfind(m.destination + "/", 0) == 0);
    if (inside && m.destination.size() >= best_len) {
      best_len = m.destination.size();
      best = std::pair{m, m.source + path.substr(m.destination.size())};
    }
  }
  return best;
}

bool names(const ports::ContainerInfo& c, const std::string& host) {
  if (c.name == host) return true;
  if (auto s = c.labels.find("com.docker.compose.service"); s != c.labels.end() && s->second == host) return true;
  return std::find(c.aliases.begin(), c.aliases.end(), host) != c.aliases.end();
}

}  // namespace adopt_detail

using namespace adopt_detail;

namespace {

constexpr const char* kComposeProject = "com.docker.compose.project";

json data_json(const StackData& d) {
  return {{"container_path", d.container_path}, {"host_path", d.host_path}, {"mount", d.mount}, {"bytes", d.bytes}};
}
StackData data_from(const json& j) {
  return {j.value("container_path", ""), j.value("host_path", ""), j.value("mount", ""), j.value("bytes", std::uint64_t{0})};
}


bool holds_moodle_code(ports::Storage& st, const std::string& dir) {
  return st.exists(dir + "/config.php") && (st.exists(dir + "/version.php") || st.exists(dir + "/public/version.php"));
}

// The containers of `from`: its Compose project's, or the container and its project's.
std::vector<ports::ContainerInfo> stack_containers(ports::Containers& containers, const std::string& from, std::string& project) {
  auto list = containers.list_containers({{kComposeProject, from}}, true);
  if (!list.empty()) {
    project = from;
    return list;
  }
  auto one = containers.inspect_container(from);
  if (!one)
    throw UsageError(fmt::format("no Compose project and no container named '{}'", from),
                     "give the project's name (docker compose ls) or the web container's (docker ps --format '{{.Names}}')");
  if (auto p = one->labels.find(kComposeProject); p != one->labels.end() && !p->second.empty()) {
    project = p->second;
    return containers.list_containers({{kComposeProject, project}}, true);
  }
  return {*one};
}

const ports::ContainerInfo* find_web(ports::Storage& st, const std::vector<ports::ContainerInfo>& all, StackData& code) {
  const ports::ContainerInfo* web = nullptr;
  for (const auto& c : all)
    for (const auto& m : c.mounts)
      if (!m.source.empty() && holds_moodle_code(st, m.source)) {
        // Several containers may share the code (a cron container): the one that serves wins.
        if (web && !(c.running && !c.any_host_ports.empty() && web->any_host_ports.empty())) continue;
        web = &c;
        code = {m.destination, m.source, mount_label(m), 0};
      }
  return web;
}

std::string setting(const std::string& php, const char* name, bool required) {
  auto v = core::config_php_setting(php, name);
  if (!v && required)
    throw Error(fmt::format("the stack's config.php sets no $CFG->{} that mupgrade can read (a literal)", name),
                "adopt reads config.php without running PHP: give the setting a literal value");
  return v.value_or("");
}

// Major and minor of a server version ("10.11.6-MariaDB-1:10.11.6+maria~deb12", "15.8 (Debian 15.8-1)").
std::pair<int, int> major_minor(const std::string& v) {
  int major = std::atoi(v.c_str());
  auto dot = v.find('.');
  int minor = dot == std::string::npos ? 0 : std::atoi(v.c_str() + dot + 1);
  return {major, minor};
}

void check_engine_version(core::DbKind kind, const std::string& version) {
  auto [major, minor] = major_minor(version);
  if (kind == core::DbKind::mariadb) {
    if (version.find("MariaDB") == std::string::npos)
      throw Error(fmt::format("the stack's DB is MySQL {} (or another engine): mupgrade knows MariaDB and PostgreSQL only", version),
                  "adopt supports MariaDB 10.6+ and PostgreSQL 13+; migrate the DB first");
    if (major < 10 || (major == 10 && minor < 6))
      throw Error(fmt::format("the stack's MariaDB {} is older than 10.6, which mupgrade does not know", version), "upgrade MariaDB first");
  } else if (major < 13) {
    throw Error(fmt::format("the stack's PostgreSQL {} is older than 13, which mupgrade does not know", version), "upgrade PostgreSQL first");
  }
}

// The DB data dir on this host: a mount of the DB container holding it, or its data/ subdir
// (Bitnami's /bitnami/mariadb/data).
StackData find_db_data(ports::Storage& st, const ports::ContainerInfo& db, core::DbKind kind) {
  const char* marker = kind == core::DbKind::mariadb ? "/mysql" : "/PG_VERSION";
  // PostgreSQL's images read PGDATA (Alpine stacks often keep it in a subdir of the volume).
  if (auto pgdata = db.env.find("PGDATA"); kind == core::DbKind::postgresql && pgdata != db.env.end())
    if (auto host = host_path_of(db, pgdata->second); host && st.exists(host->second + marker))
      return {pgdata->second, host->second, mount_label(host->first), 0};
  for (const auto& m : db.mounts) {
    if (m.source.empty()) continue;
    for (const std::string sub : {"", "/data"})
      if (st.exists(m.source + sub + marker)) return {m.destination + sub, m.source + sub, mount_label(m), 0};
  }
  throw Error(fmt::format("the data dir of {} is in no volume or bind mount", db.name),
              "adopt copies the DB's data dir from its volume: run the DB with its data in a volume");
}

bool network_filesystem(const std::string& type) {
  for (const char* n : {"nfs", "cifs", "smb", "smb2", "fuse", "ceph", "glusterfs"})
    if (type == n) return true;
  return false;
}

// The stack's DB as this host reaches it: the container's address on one of its networks.
ports::DbEndpoint stack_endpoint(const ports::ContainerInfo& db, core::DbKind kind, const std::string& user, const Secret& password,
                                 const std::string& dbname, const std::string& prefix) {
  ports::DbEndpoint ep;
  ep.kind = kind;
  for (const auto& [net, ip] : db.network_ips)
    if (!ip.empty()) ep.host = ip;
  if (ep.host.empty() || ep.host == "127.0.0.1")
    throw Error(fmt::format("{} has no address on a Docker network", db.name), "adopt reaches the stack's DB on its network");
  ep.port = core::engine_of(kind).port;
  ep.user = user;
  ep.password = password;
  ep.database = dbname;
  ep.prefix = prefix;
  return ep;
}

// A secret of the DB container's environment: VAR, or the file VAR_FILE names (read through
// the container's mounts).
std::optional<std::string> env_secret(ports::Storage& st, const ports::ContainerInfo& c, const std::string& var) {
  if (auto v = c.env.find(var); v != c.env.end() && !v->second.empty()) return v->second;
  auto f = c.env.find(var + "_FILE");
  if (f == c.env.end()) return std::nullopt;
  auto host = host_path_of(c, f->second);
  if (!host) return std::nullopt;
  auto text = st.read_file(host->second);
  if (!text) return std::nullopt;
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
  return text->empty() ? std::nullopt : text;
}

// Who mupgrade connects as: the superuser the DB container's environment names (the freeze
// and relaxed durability need its privileges), when it answers; else Moodle's own user.
void choose_mupgrade_user(ports::Ports& p, const ports::ContainerInfo& db, Discovery& d, const ports::DbEndpoint& moodle_ep) {
  auto& f = d.facts;
  std::vector<std::pair<std::string, std::string>> candidates;  // user, password variable
  if (f.kind == core::DbKind::mariadb) {
    for (const char* v : {"MARIADB_ROOT_PASSWORD", "MYSQL_ROOT_PASSWORD"}) candidates.push_back({"root", v});
  } else {
    candidates.push_back({"postgres", "POSTGRES_PASSWORD"});
    if (auto u = db.env.find("POSTGRES_USER"); u != db.env.end() && !u->second.empty()) candidates.push_back({u->second, "POSTGRES_PASSWORD"});
  }
  for (const auto& [user, var] : candidates) {
    auto pw = env_secret(p.storage, db, var);
    if (!pw) continue;
    auto ep = moodle_ep;
    ep.user = user;
    ep.password = Secret(*pw);
    try {
      p.db.server_version(ep);
      f.mupgrade_db_user = user;
      d.mupgrade_db_password = ep.password;
      return;
    } catch (const std::exception&) {
    }
  }
  f.mupgrade_db_user = f.dbuser;
  d.mupgrade_db_password = d.moodle_db_password;
  f.notes.push_back(fmt::format("mupgrade connects as Moodle's DB user '{}' (no superuser password in {}'s environment): a cutover's "
                                "DB freeze needs RELOAD (MariaDB) or a superuser; set db.user and db.password_file to one",
                                f.dbuser, db.name));
}

// The size of code built into the image: `du` in the running web container (well under a
// second for a real 4.5.6 tree), else Docker's archive of it, which streams the whole tree
// (8-12 s for the same tree). du counts blocks: a little more than the copy takes, never less.
std::uint64_t image_code_bytes(ports::Containers& containers, const std::string& web, const std::string& path) {
  ports::ExecOptions o;
  o.cmd = {"du", "-s", "-x", "-k", path};  // -x: not what is mounted below the code dir
  o.timeout = std::chrono::seconds(60);
  try {
    auto r = containers.exec(web, o);
    char* end = nullptr;
    auto kib = std::strtoull(r.out.c_str(), &end, 10);
    if (r.exit_code == 0 && !r.timed_out && end != r.out.c_str() && (*end == '\t' || *end == ' ')) return kib * 1024;
  } catch (const Error&) {
  }
  return containers.copy_from_container(web, path, "").value_or(0);
}

}  // namespace

json StackFacts::to_json() const {
  return {{"from", from}, {"project", project}, {"web", web}, {"db", db}, {"web_image", web_image}, {"db_image", db_image},
          {"kind", std::string(core::to_string(kind))}, {"server_version", server_version}, {"dbtype", dbtype}, {"dbhost", dbhost},
          {"dbname", dbname}, {"dbuser", dbuser}, {"prefix", prefix}, {"wwwroot", wwwroot}, {"dataroot", dataroot},
          {"code", data_json(code)}, {"moodledata", data_json(moodledata)}, {"db_data", data_json(db_data)}, {"web_uid", web_uid},
          {"code_version", code_version}, {"db_version", db_version}, {"release", release}, {"public_port", public_port},
          {"mupgrade_db_user", mupgrade_db_user}, {"web_image_fits", web_image_fits}, {"db_image_fits", db_image_fits}, {"notes", notes},
          {"db_uid", db_uid}, {"db_gid", db_gid}, {"redis", redis}, {"redis_host", redis_host}, {"redis_image", redis_image},
          {"redis_dump", redis_dump}, {"redis_sessions", redis_sessions}, {"redis_muc", redis_muc}, {"cache_data", data_json(cache_data)},
          {"cache_uid", cache_uid}, {"cache_gid", cache_gid}};
}

StackFacts StackFacts::from_json(const json& j) {
  StackFacts f;
  f.from = j.value("from", "");
  f.project = j.value("project", "");
  f.web = j.value("web", "");
  f.db = j.value("db", "");
  f.web_image = j.value("web_image", "");
  f.db_image = j.value("db_image", "");
  f.kind = core::db_kind_named(j.value("kind", "mariadb")).value_or(core::DbKind::mariadb);
  f.server_version = j.value("server_version", "");
  for (auto [field, key] : {std::pair{&f.dbtype, "dbtype"}, {&f.dbhost, "dbhost"}, {&f.dbname, "dbname"}, {&f.dbuser, "dbuser"},
                            {&f.prefix, "prefix"}, {&f.wwwroot, "wwwroot"}, {&f.dataroot, "dataroot"}, {&f.code_version, "code_version"},
                            {&f.db_version, "db_version"}, {&f.release, "release"}, {&f.mupgrade_db_user, "mupgrade_db_user"},
                            {&f.redis, "redis"}, {&f.redis_host, "redis_host"}, {&f.redis_image, "redis_image"}, {&f.redis_dump, "redis_dump"}})
    *field = j.value(key, "");
  f.code = data_from(j.value("code", json::object()));
  f.moodledata = data_from(j.value("moodledata", json::object()));
  f.db_data = data_from(j.value("db_data", json::object()));
  f.web_uid = j.value("web_uid", 0u);
  f.public_port = j.value("public_port", 0);
  f.notes = j.value("notes", std::vector<std::string>{});
  f.web_image_fits = j.value("web_image_fits", false);
  f.db_image_fits = j.value("db_image_fits", false);
  for (auto [field, key] : {std::pair{&f.db_uid, "db_uid"}, {&f.db_gid, "db_gid"}, {&f.cache_uid, "cache_uid"}, {&f.cache_gid, "cache_gid"}})
    *field = j.value(key, 0u);
  f.redis_sessions = j.value("redis_sessions", false);
  f.redis_muc = j.value("redis_muc", false);
  f.cache_data = data_from(j.value("cache_data", json::object()));
  return f;
}

std::string adopted_config_php(const std::string& original, bool redis_sessions) {
  auto at = original.find("lib/setup.php");
  auto line = at == std::string::npos ? std::string::npos : original.rfind('\n', at);
  if (line == std::string::npos)
    throw Error("the stack's config.php does not require lib/setup.php on a line of its own", "adopt adds its settings before that line");
  std::string add = fmt::format(
      "\n// Added by mupgrade adopt: in a mupgrade set the DB answers to 'db' on the set's network and\n"
      "// moodledata is mounted at {}.\n$CFG->dbhost = 'db';\n$CFG->dataroot = {};\n",
      core::kContainerMoodledata, core::php_quote(core::kContainerMoodledata));
  if (redis_sessions)
    add += fmt::format("// Sessions in the set's own Redis ('{}' on the set's network, no password).\n$CFG->session_redis_host = {};\n"
                       "$CFG->session_redis_port = 6379;\n$CFG->session_redis_auth = '';\n",
                       core::kCacheAlias, core::php_quote(core::kCacheAlias));
  return original.substr(0, line) + add + original.substr(line);
}

Discovery discover_stack(ports::Ports p, const std::string& from) {
  Discovery d;
  auto& f = d.facts;
  f.from = from;
  auto all = stack_containers(p.containers, from, f.project);
  const auto* web = find_web(p.storage, all, f.code);
  std::optional<std::string> php;
  if (web) {
    php = p.storage.read_file(f.code.host_path + "/config.php");
    if (!php) throw Error(fmt::format("cannot read {}/config.php", f.code.host_path), "run adopt as root");
  } else {
    std::vector<std::string> looked;
    web = find_web_in_containers(p.containers, all, f.code, d.config_php, looked);
    if (!web)
      throw Error(fmt::format("no container of '{}' has Moodle's code (config.php and version.php): none in a volume or bind mount, "
                              "none in its own files at {}", from, fmt::join(looked, ", ")),
                  "give --from the Compose project or the container that serves this Moodle (docker ps); adopt looks at Apache's "
                  "DocumentRoot and where images keep the code");
    php = d.config_php;
    f.notes.push_back(fmt::format("the code is built into {}'s image ({}): adopt copies it out of the running container (its own layer too, "
                                  "where plugins installed through Moodle's admin pages live) before the window, then in the window "
                                  "copies again what that layer changed (a plugin installed, updated or removed meanwhile comes along)",
                                  web->name, web->image));
  }
  f.web = web->name;
  f.web_image = web->image;
  f.web_image_fits = web->env.count("MOODLE_WEBROOT") && web->env.count("MOODLE_HTTP_PORT");
  d.config_php = *php;
  f.dbtype = setting(*php, "dbtype", true);
  f.dbhost = setting(*php, "dbhost", true);
  f.dbname = setting(*php, "dbname", true);
  f.dbuser = setting(*php, "dbuser", true);
  d.moodle_db_password = Secret(setting(*php, "dbpass", true));
  f.prefix = core::config_php_setting(*php, "prefix").value_or("mdl_");
  f.wwwroot = setting(*php, "wwwroot", true);
  f.dataroot = setting(*php, "dataroot", true);
  auto kind = core::db_kind_named(f.dbtype);
  if (!kind)
    throw Error(fmt::format("the stack's DB type '{}' is not MariaDB or PostgreSQL", f.dbtype), "adopt supports MariaDB 10.6+ and PostgreSQL 13+");
  f.kind = *kind;

  const ports::ContainerInfo* db = nullptr;
  for (const auto& c : all)
    if (&c != web && names(c, f.dbhost)) db = &c;
  std::optional<ports::ContainerInfo> lone;
  if (!db && (lone = p.containers.inspect_container(f.dbhost))) db = &*lone;
  if (!db)
    throw Error(fmt::format("config.php's DB host '{}' is no container of '{}'", f.dbhost, from),
                "adopt needs the DB in a container of the stack (a DB on another host is not supported)");
  f.db = db->name;
  f.db_image = db->image;
  if (!web->running || !db->running)
    throw Error(fmt::format("the stack is not running ({} {}, {} {})", f.web, web->status, f.db, db->status),
                "start it first: adopt copies from a running site and checks it through its DB");

  auto moodle_ep = stack_endpoint(*db, f.kind, f.dbuser, d.moodle_db_password, f.dbname, f.prefix);
  f.server_version = p.db.server_version(moodle_ep);
  check_engine_version(f.kind, f.server_version);
  f.db_data = find_db_data(p.storage, *db, f.kind);
  f.db_image_fits = f.db_data.container_path == core::engine_of(f.kind).data_dir;

  auto md = host_path_of(*web, f.dataroot);
  if (!md)
    throw Error(fmt::format("moodledata ({}) is in no volume or bind mount of {}", f.dataroot, f.web), "run the stack with moodledata in a volume");
  f.moodledata = {f.dataroot, md->second, mount_label(md->first), 0};
  d.redis_auth = discover_redis(p, all, *php, f);
  for (const auto* area : {&f.moodledata, &f.code, &f.db_data, &f.cache_data})
    if (auto t = area->host_path.empty() ? "" : p.storage.filesystem_type(area->host_path); network_filesystem(t))
      throw Error(fmt::format("{} ({}) is on a network filesystem ({})", area->container_path, area->host_path, t),
                  "adopt copies and mupgrade snapshots local data only: move it to a local disk first");
  if (auto mode = p.storage.file_mode(f.moodledata.host_path)) f.web_uid = mode->uid;

  // Mid-upgrade: the code is newer than the DB, or Moodle's upgrade is running.
  auto code_file = [&](const std::string& rel) {
    return f.code.in_image() ? p.containers.read_container_file(f.web, f.code.container_path + "/" + rel)
                             : p.storage.read_file(f.code.host_path + "/" + rel);
  };
  auto version_php = code_file("public/version.php");
  std::string vfile = (f.code.in_image() ? f.web + ":" + f.code.container_path : f.code.host_path) + (version_php ? "/public" : "") + "/version.php";
  if (!version_php) version_php = code_file("version.php");
  auto vf = parse_checked_version(version_php.value_or(""), vfile);
  f.code_version = vf.version->str();
  f.release = vf.release;
  f.db_version = p.db.config_value(moodle_ep, "version").value_or("");
  if (f.db_version.empty())
    throw Error(fmt::format("the stack's DB {} has no Moodle installed (no version in {}config)", f.dbname, f.prefix), "install Moodle first, or adopt another stack");
  if (core::MoodleVersion::parse(f.db_version) != vf.version)
    throw Error(fmt::format("the stack is mid-upgrade: its DB is at {} and its code at {}", f.db_version, f.code_version),
                "finish the upgrade (admin/cli/upgrade.php) or put the old code back, then adopt");
  if (auto running = p.db.config_value(moodle_ep, "upgraderunning"); running && !running->empty() && *running != "0")
    throw Error("Moodle's upgrade is running on the stack (upgraderunning is set)", "wait for it to finish, then adopt");

  f.public_port = core::port_of_url(f.wwwroot);
  for (const auto& [cport, hport] : web->any_host_ports)
    if (hport) f.public_port = hport;
  choose_mupgrade_user(p, *db, d, moodle_ep);
  for (auto* area : {&f.moodledata, &f.db_data}) area->bytes = p.storage.tree_bytes(area->host_path);
  f.code.bytes = f.code.in_image() ? image_code_bytes(p.containers, f.web, f.code.container_path) : p.storage.tree_bytes(f.code.host_path);
  if (!f.redis.empty()) f.cache_data.bytes = p.storage.tree_bytes(f.cache_data.host_path);
  return d;
}

}  // namespace mupgrade::ops
