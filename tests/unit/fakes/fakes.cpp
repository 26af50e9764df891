#include "fakes.hpp"

#include "mupgrade/core/error.hpp"

#include <fmt/format.h>

namespace mupgrade::fakes {

namespace {
std::string parent_of(const std::string& p) {
  auto slash = p.rfind('/');
  return slash == 0 || slash == std::string::npos ? "/" : p.substr(0, slash);
}
bool under(const std::string& path, const std::string& root) { return path == root || path.rfind(root + "/", 0) == 0; }
}  // namespace

void FaultPlan::hit(const std::string& call) {
  std::optional<Kind> fire;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t index = log.size();
    log.push_back(call);
    if (index == index_) fire = index_kind_;
    if (!fire && ref_nth_ > 0 && normalize_(call) == ref_key_ && ++ref_count_ == ref_nth_) fire = ref_kind_;
    for (auto& r : rules_)
      if (!fire && call.find(r.pattern) != std::string::npos && ++r.count == r.nth) fire = r.kind;
    if (fire) fired = call;
  }
  if (fire && on_fire) on_fire();
  if (fire == Kind::crash) throw Crash{call};
  if (fire) throw Error("injected failure at " + call);
}

size_t FaultPlan::find(const std::string& pattern, size_t from) const {
  for (size_t i = from; i < log.size(); ++i)
    if (log[i].find(pattern) != std::string::npos) return i;
  return std::string::npos;
}

// --- storage ---------------------------------------------------------------------------
void FakeStorage::parents(const std::string& path) {
  for (std::string p = parent_of(path); p != "/" && !nodes.count(p); p = parent_of(p)) nodes[p] = {};
}
bool FakeStorage::is_btrfs(const std::string& path) { return under(path, root_); }
bool FakeStorage::is_subvolume(const std::string& path) {
  auto it = nodes.find(path);
  return it != nodes.end() && it->second.kind == Node::Kind::subvolume;
}
void FakeStorage::create_subvolume(const std::string& path) {
  f_.hit("storage.create_subvolume " + path);
  if (nodes.count(path)) throw Error("create_subvolume: exists: " + path);
  parents(path);
  nodes[path] = {Node::Kind::subvolume, "", {}};
}
void FakeStorage::snapshot(const std::string& source, const std::string& dest) {
  f_.hit("storage.snapshot " + source + " -> " + dest);
  if (!is_subvolume(source)) throw Error("snapshot: not a subvolume: " + source);
  if (nodes.count(dest)) throw Error("snapshot: exists: " + dest);
  parents(dest);
  std::map<std::string, Node> copy;
  for (auto& [p, n] : nodes)
    if (under(p, source)) {
      if (n.kind == Node::Kind::file) n.shared = true;
      copy[dest + p.substr(source.size())] = n;
    }
  nodes.insert(copy.begin(), copy.end());
}
void FakeStorage::delete_subvolume(const std::string& path) {
  f_.hit("storage.delete_subvolume " + path);
  for (auto it = nodes.begin(); it != nodes.end();) it = under(it->first, path) ? nodes.erase(it) : std::next(it);
}
void FakeStorage::sync(const std::string& path) { f_.hit("storage.sync " + path); }
ports::SpaceInfo FakeStorage::space(const std::string& path) {
  f_.hit("storage.space " + path);
  return {total_bytes, free_bytes};
}
std::string FakeStorage::filesystem_type(const std::string& path) {
  std::string best = under(path, root_) ? "btrfs" : "ext4";
  size_t len = 0;
  for (const auto& [prefix, type] : fs_types)
    if (under(path, prefix) && prefix.size() >= len) best = type, len = prefix.size();
  return best;
}
std::chrono::system_clock::time_point FakeStorage::created(const std::string&) { return std::chrono::system_clock::now(); }
std::uint64_t FakeStorage::tree_bytes(const std::string& path) {
  std::uint64_t n = 0;
  for (const auto& [p, node] : nodes)
    if (under(p, path)) n += node.content.size();
  return n;
}
void FakeStorage::changed(const std::string& path) {
  for (std::string p = path; !p.empty() && p != "/"; p = parent_of(p))
    if (auto it = nodes.find(p); it != nodes.end() && it->second.kind == Node::Kind::subvolume && p != path) {
      ++it->second.generation;
      return;
    }
}
std::uint64_t FakeStorage::generation(const std::string& subvolume) {
  f_.hit("storage.generation " + subvolume);
  if (!is_subvolume(subvolume)) throw Error("generation: not a subvolume: " + subvolume);
  return nodes.at(subvolume).generation;
}
std::string FakeStorage::tree_fingerprint(const std::string& path, const std::string& except) {
  f_.hit("storage.tree_fingerprint " + path);
  // The fake's files have no times: their paths and contents stand for them.
  std::string all;
  for (const auto& [p, node] : nodes)
    if (under(p, path) && p != path && p != path + "/" + except && node.kind == Node::Kind::file) all += p.substr(path.size()) + '\0' + node.content + '\0';
  return fmt::format("{:016x}", std::hash<std::string>{}(all));
}
ports::DiskUsage FakeStorage::disk_usage(const std::string& path) {
  f_.hit("storage.disk_usage " + path);
  ports::DiskUsage u;
  std::set<std::string> shared_seen;  // a shared file's copies count once (the fake has no extents: same content)
  for (const auto& [p, node] : nodes)
    if (under(p, path)) {
      if (!node.shared) u.exclusive_bytes += node.content.size();
      if (!node.shared || shared_seen.insert(node.content).second) u.distinct_bytes += node.content.size();
    }
  return u;
}
bool FakeStorage::exists(const std::string& path) { return nodes.count(path) > 0; }
bool FakeStorage::is_directory(const std::string& path) {
  auto it = nodes.find(path);
  return it != nodes.end() && it->second.kind != Node::Kind::file;
}
std::vector<std::string> FakeStorage::list_dir(const std::string& path) {
  std::vector<std::string> out;
  for (const auto& [p, n] : nodes)
    if (parent_of(p) == path && p != path) out.push_back(p.substr(path.size() + 1));
  return out;
}
double FakeStorage::age_seconds(const std::string& path) { return ages.count(path) ? ages.at(path) : 60; }
std::optional<std::string> FakeStorage::read_file(const std::string& path) {
  auto it = nodes.find(path);
  if (it == nodes.end() || it->second.kind != Node::Kind::file) return std::nullopt;
  return it->second.content;
}
void FakeStorage::write_file(const std::string& path, const std::string& content, const ports::FileMode& mode) {
  f_.hit("storage.write_file " + path);
  if (!is_directory(parent_of(path))) throw Error("write_file: no directory for " + path);
  nodes[path] = {Node::Kind::file, content, mode};
  changed(path);
}
std::optional<ports::FileMode> FakeStorage::file_mode(const std::string& path) {
  auto it = nodes.find(path);
  if (it == nodes.end()) return std::nullopt;
  return it->second.mode;
}
void FakeStorage::set_mode(const std::string& path, const ports::FileMode& mode) {
  f_.hit("storage.set_mode " + path);
  auto it = nodes.find(path);
  if (it == nodes.end()) throw Error("set_mode: no such path: " + path);
  it->second.mode = mode;
  changed(path);
}
void FakeStorage::make_dirs(const std::string& path) {
  if (nodes.count(path)) return;
  f_.hit("storage.make_dirs " + path);
  parents(path);
  nodes[path] = {};
  changed(path);
}
void FakeStorage::remove(const std::string& path) {
  f_.hit("storage.remove " + path);
  if (!list_dir(path).empty()) return;  // only files and empty directories
  if (nodes.erase(path)) changed(path);
}
void FakeStorage::remove_tree(const std::string& path) {
  f_.hit("storage.remove_tree " + path);
  for (auto it = nodes.begin(); it != nodes.end();) it = under(it->first, path) ? nodes.erase(it) : std::next(it);
  changed(path);
}
void FakeStorage::rename(const std::string& from, const std::string& to) {
  f_.hit("storage.rename " + from + " -> " + to);
  std::map<std::string, Node> moved;
  for (auto it = nodes.begin(); it != nodes.end();) {
    if (under(it->first, from)) {
      moved[to + it->first.substr(from.size())] = it->second;
      it = nodes.erase(it);
    } else {
      ++it;
    }
  }
  nodes.insert(moved.begin(), moved.end());
  changed(from);
  changed(to);
}
std::set<std::string> FakeStorage::paths_under(const std::string& root) const {
  std::set<std::string> out;
  for (const auto& [p, n] : nodes)
    if (under(p, root)) out.insert(p + (n.kind == Node::Kind::file ? "=" + n.content : ""));
  return out;
}

// --- containers and Moodle ---------------------------------------------------------------
std::optional<ports::ImageInfo> FakeContainers::image(const std::string& ref) {
  f_.hit("containers.image " + ref);
  if (!images.count(ref)) return std::nullopt;
  ports::ImageInfo info{"sha256:" + ref, {{"mupgrade.php", "8.2"}}};
  if (auto it = image_labels.find(ref); it != image_labels.end()) info.labels.insert(it->second.begin(), it->second.end());
  return info;
}
std::string FakeContainers::create_container(const ports::ContainerSpec& spec) {
  f_.hit("containers.create " + spec.name);
  if (containers.count(spec.name)) throw Error("create: exists: " + spec.name);
  if (!images.count(spec.image)) throw Error("create: no image " + spec.image);
  Container c{spec, {}};
  c.info.id = c.info.name = spec.name;
  c.info.image = spec.image;
  c.info.status = "created";
  c.info.labels = spec.labels;
  if (!spec.network.empty()) c.info.network_ips[spec.network] = fmt::format("10.9.{}.{}", next_ip_ / 250, next_ip_ % 250 + 2), ++next_ip_;
  containers[spec.name] = c;
  if (spec.labels.count("mupgrade.role") && spec.labels.at("mupgrade.role") == "web") cron_enabled.emplace(spec.name, true);
  return spec.name;
}
void FakeContainers::start_container(const std::string& id) {
  f_.hit("containers.start " + id);
  auto& c = containers.at(id);
  if (stopping.count(id)) return;  // Docker: 304, it is running (and exits a moment later)
  for (const auto& [net, ip] : c.info.network_ips)
    if (!networks.count(net) && net != "mupgrade-t" && net != "none") throw Error("start: network " + net + " not found");
  c.info.running = true;
  c.info.status = "running";
  for (const auto& p : c.spec.ports) c.info.host_ports[p.container_port] = next_port_++;
  if (on_start) on_start(c.spec);
}
void FakeContainers::stop_container(const std::string& id, std::chrono::seconds) {
  f_.hit("containers.stop " + id);
  auto& c = containers.at(id);
  stopping.erase(id);
  c.info.running = false;
  c.info.status = "exited";
  c.info.host_ports.clear();
}
void FakeContainers::settle_stops() {
  for (const auto& id : stopping) {
    auto& c = containers.at(id);
    c.info.running = false;
    c.info.status = "exited";
    c.info.host_ports.clear();
  }
  stopping.clear();
}
void FakeContainers::kill_container(const std::string& id, const std::string& signal) { f_.hit("containers.kill " + id + " " + signal); }
void FakeContainers::remove_container(const std::string& id, bool) {
  f_.hit("containers.remove " + id);
  containers.erase(id);
}
std::optional<ports::ContainerInfo> FakeContainers::inspect_container(const std::string& id) {
  auto it = containers.find(id);
  if (it == containers.end()) return std::nullopt;
  return it->second.info;
}
std::vector<ports::ContainerInfo> FakeContainers::list_containers(const ports::Labels& labels, bool) {
  if (labels.empty()) throw Error("list_containers: no label filter");
  std::vector<ports::ContainerInfo> out;
  for (const auto& [n, c] : containers) {
    bool all = true;
    for (const auto& [k, v] : labels) {
      if (v.empty()) throw Error("list_containers: empty label value for " + k);
      all = all && c.info.labels.count(k) && c.info.labels.at(k) == v;
    }
    if (all) out.push_back(c.info);
  }
  return out;
}
int FakeContainers::wait_container(const std::string& id, std::chrono::milliseconds) {
  f_.hit("containers.wait " + id);
  if (!run_entrypoint) return 0;
  auto [code, out] = run_entrypoint(containers.at(id).spec);
  container_logs[id] = out;
  return code;
}
std::string FakeContainers::logs(const std::string& id, int) {
  auto it = container_logs.find(id);
  return it == container_logs.end() ? std::string() : it->second;
}

// A Redis as redis-cli answers it: BGSAVE writes dump.rdb into the container's /data mount
// (what the set's cache subvolume then holds), INFO persistence says it finished.
ports::ExecResult FakeContainers::redis(Container& c, const std::string& command, const std::vector<std::string>& env) {
  ports::ExecResult r;
  r.exit_code = 0;
  std::string data;
  for (const auto& m : c.spec.mounts)
    if (m.container_path == "/data") data = m.host_path;
  if (redis_noauth.count(c.info.name)) {
    r.out = "NOAUTH Authentication required.\n\n";
    return r;
  }
  if (auto pw = redis_password.find(c.info.name); pw != redis_password.end()) {
    auto given = std::find_if(env.begin(), env.end(), [](const std::string& e) { return e.rfind("REDISCLI_AUTH=", 0) == 0; });
    if (given == env.end()) {
      r.out = "NOAUTH Authentication required.\n\n";
      return r;
    }
    if (given->substr(14) != pw->second) {
      r.out = "AUTH failed: WRONGPASS invalid username-password pair or user is disabled.\n";  // redis-cli says this on stdout, exit 0
      return r;
    }
  }
  if (auto own = redis_config.find(c.info.name); own != redis_config.end()) {
    const auto& [dir, dump] = own->second;
    if (command == "CONFIG GET dir") r.out = "dir\n" + dir + "\n";
    else if (command == "CONFIG GET dbfilename") r.out = "dbfilename\n" + dump + "\n";
    else if (command == "SAVE") {
      for (const auto& m : c.info.mounts)
        if (m.destination == dir) storage_.write_file(m.source + "/" + dump, fmt::format("the stack's sessions, saved #{}", ++redis_saves), {999, 999, 0600});
      r.out = "OK\n";
    } else r.out = "ERR unknown command\n";
    return r;
  }
  if (command == "PING") r.out = "PONG\n";
  else if (command == "BGSAVE") {
    storage_.write_file(data + "/dump.rdb", fmt::format("sessions of {}, saved #{}", c.info.labels["mupgrade.set"], ++redis_saves), {});
    r.out = "Background saving started\n";
  } else if (command == "INFO persistence") r.out = "# Persistence\r\nrdb_bgsave_in_progress:0\r\nrdb_last_bgsave_status:ok\r\n";
  else r.out = "ERR unknown command\n";
  return r;
}

ports::ExecResult FakeContainers::exec(const std::string& container, const ports::ExecOptions& opts) {
  std::string cmd;
  for (const auto& a : opts.cmd) cmd += (cmd.empty() ? "" : " ") + a;
  f_.hit("exec " + container + ": " + cmd);
  auto it = containers.find(container);
  if (it == containers.end() || !it->second.info.running) throw Error("exec: not running: " + container);
  bool php = cmd.find("php") != std::string::npos;
  if (php) {
    std::unique_lock<std::mutex> lock(php_mutex_);
    int now = ++php_running_[container];
    php_max_at_once = std::max(php_max_at_once, now);
    if (php_gather > 0) {
      php_cv_.notify_all();
      php_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return php_running_[container] >= php_gather || php_max_at_once >= php_gather; });
    }
  }
  struct Done {
    FakeContainers* self;
    const std::string& container;
    bool php;
    ~Done() {
      if (!php) return;
      std::lock_guard<std::mutex> lock(self->php_mutex_);
      --self->php_running_[container];
    }
  } done{this, container, php};
  ports::ExecResult r;
  r.exit_code = 0;
  auto has = [&](const std::string& s) { return cmd.find(s) != std::string::npos; };
  if (cmd.rfind("redis-cli ", 0) == 0) return redis(it->second, cmd.substr(10), opts.env);
  if (cmd.rfind("du -s -x -k ", 0) == 0) {  // the image's files (layers) in 4 KiB blocks, as GNU du and busybox's answer
    if (no_du.count(container)) {
      r.exit_code = 127;
      r.err = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"du\": executable file not found in $PATH\n";
      return r;
    }
    std::string path = cmd.substr(12);
    std::uint64_t kib = 0;
    bool any = false;
    for (const auto& [at, node] : layers[container])
      if (at == path || at.rfind(path + "/", 0) == 0)
        any = true, kib += node.kind == FakeStorage::Node::Kind::file ? (node.content.size() + 4095) / 4096 * 4 : 4;
    if (!any) r.exit_code = 1, r.err = "du: cannot access '" + path + "': No such file or directory\n";
    else r.out = fmt::format("{}\t{}\n", kib, path);
    return r;
  }
  if (has("mupgrade-carry-sessions")) {
    r.exit_code = carry_exit;
    (carry_exit ? r.err : r.out) = carry_exit ? "cannot connect to Redis at cache\n" : carry_out;
    return r;
  }
  if (has("echo n | exec php") && has("upgrade.php")) {
    // upgrade.php's checks before its question, answered "n".
    r.exit_code = 1;
    r.err = refused_err;
    if (refused_err.empty()) r.out = "Do you really want to continue? (y/n)\n";
  } else if (has("upgrade.php --is-pending")) r.exit_code = pending_exit;
  else if (has("upgrade.php --is-maintenance-required")) {
    r.exit_code = maintenance_exit;
    if (maintenance_exit == 1) r.err = "Unrecognised options:\n  --is-maintenance-required\nPlease use --help option.\n";
  } else if (has("uninstall_plugins.php --show-missing")) r.out = missing_out;
  else if (has("upgrade.php")) {
    r.exit_code = upgrade_exit;
    if (!upgrade_exit) upgraded_sets.insert(it->second.info.labels["mupgrade.set"]);
    r.out = upgrade_exit ? "" : "-->System\n++ Success ++\nCommand line upgrade from 4.4.1 to 4.4.3 completed successfully.\n";
    if (upgrade_exit) r.err = upgrade_err;
  } else if (has("cron.php --disable-wait")) cron_enabled[container] = false;
  else if (has("cron.php --enable")) cron_enabled[container] = true;
  else if (has("upgrade.php") == false && has("cfg.php --name=")) {
    std::string name = cmd.substr(cmd.find("--name=") + 7);
    name = name.substr(0, name.find(' '));
    if (auto v = config_php_setting(it->second, name)) r.out = *v;
    else if (name == "cron_enabled") r.out = cron_enabled[container] ? "1" : "0";
    else r.exit_code = 3;  // no such setting
  }
  else if (has("install_database.php")) {
    // As the PHP prelude does: the admin password from the file named after "--", then deleted.
    std::string file, host_file;
    for (size_t i = 0; i + 1 < opts.cmd.size(); ++i)
      if (opts.cmd[i] == "--") file = opts.cmd[i + 1];
    for (const auto& m : it->second.spec.mounts)
      if (!file.empty() && file.rfind(m.container_path + "/", 0) == 0) host_file = m.host_path + file.substr(m.container_path.size());
    auto pw = storage_.read_file(host_file);
    std::string set = it->second.info.labels["mupgrade.set"];
    // The tables live in the DB's data dir (the db subvolume): removing it removes them.
    std::string tables;
    for (const auto& [name, c] : containers)
      if (c.info.labels.count("mupgrade.role") && c.info.labels.at("mupgrade.role") == "db" && c.info.labels.at("mupgrade.set") == set &&
          !c.spec.mounts.empty())
        tables = c.spec.mounts.front().host_path + "/fake-moodle-tables";
    if (!pw || pw->empty()) {
      r.exit_code = 1;
      r.err = "no admin password in " + file + "\n";
    } else if (tables.empty() || storage_.exists(tables)) {
      r.exit_code = 1;
      r.err = "Database tables already present; CLI installation cannot continue.\n";
    } else if (install_exit) {
      r.exit_code = install_exit;
      r.out = "!!! Error installing the DB !!!\n";
    } else {
      installed[set] = pw->substr(0, pw->find('\n'));
      storage_.nodes[tables] = {FakeStorage::Node::Kind::file, "installed", {}};
      r.out = "Installation completed successfully.\n";
    }
    if (pw) storage_.remove(host_file);
  }
  else if (has("check_database_schema.php") && opts.workdir == "/var/www/moodle-live") {
    r.exit_code = live_schema_exit;
    r.out = live_schema_out;
  } else if (has("check_database_schema.php")) {
    r.exit_code = schema_exit;
    r.out = schema_out;
  }
  return r;
}
std::optional<std::uint64_t> FakeContainers::copy_from_container(const std::string& container, const std::string& path,
                                                                 const std::string& host_dir) {
  f_.hit("containers.copy_from " + container + ":" + path + (host_dir.empty() ? "" : " -> " + host_dir));
  if (!containers.count(container)) throw Error("copy_from: no such container " + container);
  const auto& layer = layers[container];
  auto top = layer.find(path);
  if (top == layer.end()) return std::nullopt;
  std::uint64_t bytes = 0;
  for (auto it = top; it != layer.end(); ++it) {
    if (it->first != path && it->first.rfind(path + "/", 0) != 0) continue;
    bytes += 512 + (it->second.content.size() + 511) / 512 * 512;  // a tar's header and blocks
    if (host_dir.empty()) continue;
    auto& node = storage_.nodes[host_dir + it->first.substr(path.size())];
    auto kind = node.kind;
    node = it->second;
    if (it->first == path && kind == FakeStorage::Node::Kind::subvolume) node.kind = kind;  // the tree's top: host_dir takes its mode
  }
  return bytes;
}
std::optional<std::string> FakeContainers::read_container_file(const std::string& container, const std::string& path) {
  f_.hit("containers.read_file " + container + ":" + path);
  if (!containers.count(container)) throw Error("read_file: no such container " + container);
  const auto& layer = layers[container];
  auto it = layer.find(path);
  if (it == layer.end() || it->second.kind != FakeStorage::Node::Kind::file) return std::nullopt;
  return it->second.content;
}
std::vector<ports::FileChange> FakeContainers::container_changes(const std::string& container) {
  f_.hit("containers.changes " + container);
  if (on_changes) on_changes();
  if (!containers.count(container)) throw Error("changes: no such container " + container);
  auto it = changes.find(container);
  return it == changes.end() ? std::vector<ports::FileChange>{} : it->second;
}
std::optional<std::string> FakeContainers::config_php_setting(const Container& c, const std::string& name) {
  for (const auto& m : c.spec.mounts) {
    if (m.container_path != "/var/www/moodle") continue;
    auto text = storage_.read_file(m.host_path + "/config.php");
    if (!text) return std::nullopt;
    std::optional<std::string> value;
    std::string key = "$CFG->" + name + " = ";
    for (size_t at = text->find(key); at != std::string::npos; at = text->find(key, at + 1)) {
      std::string v = text->substr(at + key.size(), text->find(';', at) - at - key.size());
      if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
      value = v == "true" ? "1" : v == "false" ? "0" : v;
    }
    return value;
  }
  return std::nullopt;
}

std::string FakeContainers::set_at(const std::string& host, int port) const {
  for (const auto& [n, c] : containers) {
    if (!c.info.running) continue;
    bool match = false;
    if (host == "127.0.0.1") {
      for (const auto& [cp, hp] : c.info.host_ports) match = match || hp == port;
    } else {
      for (const auto& [net, ip] : c.info.network_ips) match = match || ip == host;
    }
    if (match) return c.info.labels.count("mupgrade.set") ? c.info.labels.at("mupgrade.set") : "";
  }
  return "";
}

std::string FakeContainers::create_network(const std::string& name, const ports::Labels& labels, bool internal) {
  f_.hit("containers.create_network " + name);
  for (const auto& [k, v] : labels)
    if (v.empty()) throw Error("create_network: empty label value for " + k);
  networks[name] = {name, name, internal, labels};
  return name;
}
void FakeContainers::connect_network(const std::string& net, const std::string& container, const std::vector<std::string>&) {
  f_.hit("containers.connect " + net + " " + container);
  containers.at(container).info.network_ips[net] = fmt::format("10.8.{}.{}", next_ip_ / 250, next_ip_ % 250 + 2);
  ++next_ip_;
}
void FakeContainers::disconnect_network(const std::string& net, const std::string& container) {
  f_.hit("containers.disconnect " + net + " " + container);
  if (auto it = containers.find(container); it != containers.end()) it->second.info.network_ips.erase(net);
}
void FakeContainers::remove_network(const std::string& name) {
  f_.hit("containers.remove_network " + name);
  for (const auto& [n, c] : containers)
    if (c.info.network_ips.count(name)) throw Error("remove_network: " + name + " has endpoints (" + n + ")");
  networks.erase(name);
}
std::vector<ports::NetworkInfo> FakeContainers::list_networks(const ports::Labels& labels) {
  if (labels.empty()) throw Error("list_networks: no label filter");
  std::vector<ports::NetworkInfo> out;
  for (const auto& [n, net] : networks) {
    bool all = true;
    for (const auto& [k, v] : labels) {
      if (v.empty()) throw Error("list_networks: empty label value for " + k);
      all = all && net.labels.count(k) && net.labels.at(k) == v;
    }
    if (all) out.push_back(net);
  }
  return out;
}

std::optional<ports::NetworkInfo> FakeContainers::network(const std::string& name) {
  auto it = networks.find(name);
  if (it == networks.end()) return std::nullopt;
  return it->second;
}

// --- commands, HTTP, DB, proxy ---------------------------------------------------------------
ports::CommandResult FakeCommands::run(const std::vector<std::string>& argv, const std::vector<std::string>&, std::chrono::seconds) {
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
  f_.hit("command " + cmd);
  if (on_run) return on_run(argv);
  return {0, false, ""};
}

bool FakeHttp::proxy_up() const {
  if (proxy_container.empty()) return true;
  auto p = c_.inspect_container(proxy_container);
  return p && p->running;
}

ports::HttpResponse FakeHttp::get(const std::string& url, const std::string&, std::chrono::milliseconds) {
  f_.hit("http.get " + url);
  ports::HttpResponse r;
  std::string set;
  if (url.rfind(proxy_url_, 0) == 0) {
    if (!proxy_container.empty()) {
      auto p = c_.inspect_container(proxy_container);
      if (auto old = stack_web.empty() ? std::nullopt : c_.inspect_container(stack_web); (!p || !p->running) && old && old->running) {
        r.status = 200;
        return r;
      }
      if (!p || !p->running) {
        r.transport_error = "Connection refused";
        return r;
      }
    }
    if (held) {
      r.status = 503;
      r.headers["retry-after"] = "300";
      return r;
    }
    set = serving;
  } else {
    std::string rest = url.substr(url.find("://") + 3);
    std::string host = rest.substr(0, rest.find(':'));
    int port = std::stoi(rest.substr(rest.find(':') + 1));
    set = c_.set_at(host, port);
  }
  if (set.empty()) {
    r.transport_error = "Connection refused";
    return r;
  }
  r.status = 200;
  r.headers["x-mupgrade-set"] = set;
  return r;
}

void FakeDatabase::wait_ready(const ports::DbEndpoint& ep, std::chrono::milliseconds) { f_.hit(fmt::format("db.wait_ready {}", ep.port)); }
std::string FakeDatabase::server_version(const ports::DbEndpoint& ep) {
  f_.hit(fmt::format("db.server_version {}", ep.port));
  if (!version_answer.empty()) return version_answer;
  return ep.kind == ports::DbKind::mariadb ? "10.11.6-MariaDB" : "15.8";
}
void FakeDatabase::require_tables(const ports::DbEndpoint& ep, const std::string& table) const {
  if (ep.prefix != tables_prefix)
    throw Error(fmt::format("Table '{}{}' doesn't exist (the site's tables are {}*)", ep.prefix, table, tables_prefix));
}
std::optional<std::string> FakeDatabase::config_value(const ports::DbEndpoint& ep, const std::string& name) {
  f_.hit(fmt::format("db.config_value {} {}", ep.port, name));
  require_tables(ep, "config");
  bool upgraded = c_.upgraded_sets.count(c_.set_at(ep.host, ep.port)) > 0;
  if (name == "version") return upgraded ? target_version : live_version;
  if (name == "release") return upgraded ? target_release : live_release;
  if (name == "upgraderunning") return upgrade_running;
  return std::nullopt;
}
nlohmann::json FakeDatabase::watermark(const ports::DbEndpoint& ep) {
  f_.hit(fmt::format("db.watermark {}", ep.port));
  require_tables(ep, "logstore_standard_log");
  return {{"logstore_standard_log", 100}, {"forum_posts", 10}};
}
ports::WriteCount FakeDatabase::writes_since(const ports::DbEndpoint& ep, const nlohmann::json&) {
  f_.hit(fmt::format("db.writes_since {}", ep.port));
  require_tables(ep, "logstore_standard_log");
  ports::WriteCount w;
  w.per_table["forum_posts"] = writes_on_green;
  writes_on_green += writes_arriving_per_count;
  return w;
}
std::optional<long> FakeDatabase::first_course(const ports::DbEndpoint&) { return std::nullopt; }
std::vector<ports::StoredFile> FakeDatabase::newest_files(const ports::DbEndpoint&, int) { return {}; }

namespace {
class FakeFreezer : public ports::Freezer {
public:
  FakeFreezer(FaultPlan& f, std::map<int, double>& pct, int port) : f_(f), pct_(pct), port_(port) {}
  nlohmann::json settings() override {
    f_.hit(fmt::format("freezer.settings {}", port_));
    return {{"innodb_max_dirty_pages_pct", pct_.count(port_) ? pct_[port_] : 90.0}};
  }
  void prepare() override {
    f_.hit(fmt::format("freezer.prepare {}", port_));
    pct_[port_] = 0;
  }
  ports::FreezeReport freeze(const std::function<void()>& take) override {
    f_.hit(fmt::format("freezer.freeze {}", port_));
    take();
    return {"fake", std::chrono::microseconds(3)};
  }
  void restore(const nlohmann::json& s) override {
    f_.hit(fmt::format("freezer.restore {}", port_));
    if (s.contains("innodb_max_dirty_pages_pct")) pct_[port_] = s["innodb_max_dirty_pages_pct"].get<double>();
  }

private:
  FaultPlan& f_;
  std::map<int, double>& pct_;
  int port_;
};
}  // namespace

std::unique_ptr<ports::Freezer> FakeDatabase::freezer(const ports::DbEndpoint& ep) {
  return std::make_unique<FakeFreezer>(f_, dirty_pages_pct, ep.port);
}
void FakeDatabase::relax_durability(const ports::DbEndpoint& ep) { f_.hit(fmt::format("db.relax_durability {}", ep.port)); }
void FakeDatabase::restore_durability(const ports::DbEndpoint& ep) { f_.hit(fmt::format("db.restore_durability {}", ep.port)); }
std::string FakeDatabase::durability_settings(const ports::DbEndpoint&) { return "fake"; }

void FakeProxy::install(const ports::Backend& initial) {
  f_.hit("proxy.install " + initial.name);
  current_ = initial;
  http_.serving = initial.name;
}
void FakeProxy::check_ready() {
  f_.hit("proxy.check_ready");
  if (!running || !http_.proxy_up()) throw ports::ProxyError("the proxy container is not running", "docker start it");
}
ports::SwitchReport FakeProxy::switch_to(const ports::Backend& target) {
  f_.hit("proxy.switch_to " + target.name);
  if (!running || !http_.proxy_up()) throw ports::ProxyError("cannot reach the proxy");
  if (target.ip.empty()) throw ports::ProxyError("backend " + target.name + " has no address on the proxy's network");
  ports::SwitchReport r;
  r.previous = current_;
  current_ = target;
  http_.serving = target.name;
  http_.held = false;  // the new backend's slot is ready: the hold ends with the switch
  f_.hit("proxy.switched " + target.name);  // a crash here: traffic moved, nothing journaled yet
  return r;
}
bool FakeProxy::hold() {
  f_.hit("proxy.hold");
  http_.held = true;
  return true;
}
void FakeProxy::release_hold() {
  f_.hit("proxy.release_hold");
  http_.held = false;
}
std::optional<int> FakeProxy::in_flight() {
  f_.hit("proxy.in_flight");
  int now = requests_in_flight;
  if (requests_in_flight > 0) --requests_in_flight;
  return now;
}

std::unique_ptr<ports::Proxy> FakeProxies::open(const ports::ProxySite&) {
  // A handle on the one proxy: what a switch changes, every later open sees.
  struct Handle : ports::Proxy {
    explicit Handle(FakeProxy& p) : p_(p) {}
    void install(const ports::Backend& b) override { p_.install(b); }
    std::optional<ports::Backend> current() const override { return p_.current(); }
    void check_ready() override { p_.check_ready(); }
    ports::SwitchReport switch_to(const ports::Backend& t) override { return p_.switch_to(t); }
    bool hold() override { return p_.hold(); }
    void release_hold() override { p_.release_hold(); }
    std::optional<int> in_flight() override { return p_.in_flight(); }
    std::string kind() const override { return p_.kind(); }
    FakeProxy& p_;
  };
  return std::make_unique<Handle>(p_);
}

}  // namespace mupgrade::fakes
