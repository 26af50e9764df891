#pragma once
// Recording fakes of every port (ninja's style): each call is written to one shared log, so a
// test can assert the order of effects across systems, and a FaultPlan makes the n-th call
// matching a pattern fail (throw an Error) or crash (throw Crash, which no product code
// catches: the process "dies" there, its disk state stays, like kill -9).

#include "mupgrade/ports/ports.hpp"

#include <condition_variable>
#include <map>
#include <algorithm>
#include <functional>
#include <mutex>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace mupgrade::fakes {

/// A simulated kill -9: not a std::exception, so no catch in the product stops it.
struct Crash {
  std::string at;
};

class FaultPlan {
public:
  enum class Kind { fail, crash };
  /// The `nth` call (1-based) whose log line contains `pattern` fails or crashes.
  void add(std::string pattern, int nth, Kind kind) { rules_.push_back({std::move(pattern), nth, kind, 0}); }
  /// The `index`-th call of all (0-based) fails or crashes.
  void at_call(size_t index, Kind kind) {
    index_ = index;
    index_kind_ = kind;
  }
  /// The call that was `reference[index]` in a reference run fails or crashes, matched by its
  /// normalised text and its occurrence among equal calls: calls two threads make at once
  /// (green's DB, cache and web start together) interleave differently from run to run.
  void at_reference_call(const std::vector<std::string>& reference, size_t index, Kind kind,
                         std::function<std::string(const std::string&)> normalize) {
    normalize_ = std::move(normalize);
    ref_key_ = normalize_(reference.at(index));
    ref_nth_ = static_cast<int>(std::count_if(reference.begin(), reference.begin() + static_cast<std::ptrdiff_t>(index) + 1,
                                              [&](const std::string& c) { return normalize_(c) == ref_key_; }));
    ref_count_ = 0;
    ref_kind_ = kind;
  }
  void clear() {
    rules_.clear();
    index_ = SIZE_MAX;
    ref_nth_ = 0;
    fired.clear();
  }
  /// Records `call`; throws when a rule says so.
  void hit(const std::string& call);
  std::vector<std::string> log;
  /// The call at which the last fault fired ("" when none did).
  std::string fired;
  /// Runs when a fault fires, before it is thrown: what else the fault does to the world
  /// (a daemon restart stops every container).
  std::function<void()> on_fire;
  /// Position in `log` of the first line containing `pattern` (npos when absent).
  size_t find(const std::string& pattern, size_t from = 0) const;
  bool seen(const std::string& pattern) const { return find(pattern) != std::string::npos; }

private:
  struct Rule {
    std::string pattern;
    int nth;
    Kind kind;
    int count;
  };
  std::vector<Rule> rules_;
  size_t index_ = SIZE_MAX;
  Kind index_kind_ = Kind::fail;
  std::function<std::string(const std::string&)> normalize_;
  std::string ref_key_;
  int ref_nth_ = 0, ref_count_ = 0;
  Kind ref_kind_ = Kind::fail;
  std::mutex mutex_;  // steps run some calls at once (green's DB and web start together)
};

class FakeStorage : public ports::Storage {
public:
  explicit FakeStorage(FaultPlan& f, std::string btrfs_root) : f_(f), root_(std::move(btrfs_root)) {}
  bool is_btrfs(const std::string& path) override;
  bool is_subvolume(const std::string& path) override;
  void create_subvolume(const std::string& path) override;
  void snapshot(const std::string& source, const std::string& dest) override;
  void delete_subvolume(const std::string& path) override;
  void sync(const std::string& path) override;
  ports::SpaceInfo space(const std::string& path) override;
  std::string filesystem_type(const std::string& path) override;
  std::chrono::system_clock::time_point created(const std::string& subvolume) override;
  std::uint64_t tree_bytes(const std::string& path) override;
  /// A file a snapshot copied is shared (with its source, and the source with it) until rewritten.
  ports::DiskUsage disk_usage(const std::string& path) override;
  std::string tree_fingerprint(const std::string& path, const std::string& except) override;
  std::uint64_t generation(const std::string& subvolume) override;
  bool exists(const std::string& path) override;
  bool is_directory(const std::string& path) override;
  std::vector<std::string> list_dir(const std::string& path) override;
  double age_seconds(const std::string& path) override;
  std::optional<std::string> read_file(const std::string& path) override;
  void write_file(const std::string& path, const std::string& content, const ports::FileMode& mode) override;
  std::optional<ports::FileMode> file_mode(const std::string& path) override;
  void set_mode(const std::string& path, const ports::FileMode& mode) override;
  void make_dirs(const std::string& path) override;
  void remove(const std::string& path) override;
  void remove_tree(const std::string& path) override;
  void rename(const std::string& from, const std::string& to) override;

  struct Node {
    enum class Kind { dir, subvolume, file } kind = Kind::dir;
    std::string content;
    ports::FileMode mode;
    bool shared = false;  // a snapshot's copy, or its source: deleting one frees nothing
    std::uint64_t generation = 1;  // a subvolume's: every change under it moves it
  };
  std::map<std::string, Node> nodes;
  std::uint64_t free_bytes = 50ULL << 30;
  std::uint64_t total_bytes = 100ULL << 30;
  std::map<std::string, double> ages;  // age_seconds of a path (60 when not given)
  /// Filesystem type by path prefix (the longest wins); btrfs under the root, else ext4.
  std::map<std::string, std::string> fs_types;
  /// Every path below `root` (for "nothing changed" checks).
  std::set<std::string> paths_under(const std::string& root) const;

private:
  void parents(const std::string& path);
  /// Moves the generation of the subvolume holding `path`.
  void changed(const std::string& path);
  FaultPlan& f_;
  std::string root_;
};

/// Containers plus a fake Moodle answering admin/cli scripts run through exec (it reads the
/// config.php of the code mounted in the container from the fake storage, as Moodle would).
class FakeContainers : public ports::Containers {
public:
  FakeContainers(FaultPlan& f, FakeStorage& storage) : f_(f), storage_(storage) {}
  std::optional<ports::ImageInfo> image(const std::string& ref) override;
  std::string create_container(const ports::ContainerSpec& spec) override;
  void start_container(const std::string& id) override;
  void stop_container(const std::string& id, std::chrono::seconds grace) override;
  void kill_container(const std::string& id, const std::string& signal) override;
  void remove_container(const std::string& id, bool force) override;
  std::optional<ports::ContainerInfo> inspect_container(const std::string& id) override;
  std::vector<ports::ContainerInfo> list_containers(const ports::Labels& labels, bool all) override;
  int wait_container(const std::string& id, std::chrono::milliseconds timeout) override;
  std::string logs(const std::string& id, int tail_lines) override;
  ports::ExecResult exec(const std::string& container, const ports::ExecOptions& opts) override;
  std::optional<std::uint64_t> copy_from_container(const std::string& container, const std::string& path, const std::string& host_dir) override;
  std::optional<std::string> read_container_file(const std::string& container, const std::string& path) override;
  std::vector<ports::FileChange> container_changes(const std::string& container) override;
  std::string create_network(const std::string& name, const ports::Labels& labels, bool internal) override;
  void connect_network(const std::string& network, const std::string& container, const std::vector<std::string>& aliases) override;
  void disconnect_network(const std::string& network, const std::string& container) override;
  void remove_network(const std::string& name_or_id) override;
  std::optional<ports::NetworkInfo> network(const std::string& name_or_id) override;
  std::vector<ports::NetworkInfo> list_networks(const ports::Labels& labels) override;

  struct Container {
    ports::ContainerSpec spec;
    ports::ContainerInfo info;
  };
  std::map<std::string, Container> containers;
  /// Containers a killed process asked to stop: they still run (inspect says so) until a stop
  /// waits them out or settle_stops() lets the daemon finish; a start is a no-op meanwhile.
  std::set<std::string> stopping;
  void settle_stops();
  std::map<std::string, ports::NetworkInfo> networks;
  /// Each container's own files (its image and writable layer, not its mounts) by path: what
  /// copy_from_container copies (into the fake storage) and read_container_file reads.
  std::map<std::string, std::map<std::string, FakeStorage::Node>> layers;
  /// What container_changes answers per container (Docker's list: tests keep it in line with `layers`).
  std::map<std::string, std::vector<ports::FileChange>> changes;
  /// Called as container_changes is asked (on the caller's thread), before it answers.
  std::function<void()> on_changes;
  /// Called as a container starts (what its entrypoint does to the mounts, say).
  std::function<void(const ports::ContainerSpec&)> on_start;
  std::set<std::string> images = {"mupgrade/web:php8.2", "mupgrade/mariadb:10.11", "mupgrade/postgres:15", "mupgrade/redis:7.0"};
  /// Labels an image carries besides mupgrade.php (the project's web image's opcache label, say).
  std::map<std::string, ports::Labels> image_labels;
  int redis_saves = 0;  // BGSAVEs answered, by any set's Redis
  /// A Redis not made by mupgrade (an adopted stack's): its data dir in the container and its
  /// dump's name, as CONFIG GET answers them; SAVE writes the dump into the mount holding it.
  std::map<std::string, std::pair<std::string, std::string>> redis_config;
  std::set<std::string> redis_noauth;  // Redis containers that ask for a password (NOAUTH)
  std::set<std::string> no_du;  // containers whose image has no du (adopt then sizes code by Docker's archive)
  std::map<std::string, std::string> redis_password;  // Redis containers' requirepass: redis-cli's REDISCLI_AUTH must match
  int carry_exit = 0;    // what mupgrade's session carry (php -r in a web container) answers
  std::string carry_out = "skipped: this code (before 4.5) reads sessions in Redis as they are\n";  // 4.4.1 -> 4.4.3
  std::map<std::string, bool> cron_enabled;  // per web container, as Moodle's cron.php sets it
  int upgrade_exit = 0;                      // what upgrade.php answers
  std::string upgrade_err = "Default exception handler: upgrade failed in mod_quiz\n";  // its stderr when it fails
  int pending_exit = 2;                      // what upgrade.php --is-pending answers
  std::set<std::string> upgraded_sets;        // sets whose DB upgrade.php upgraded
  /// The set whose container answers at `host` (127.0.0.1 + a published port, or a network address).
  std::string set_at(const std::string& host, int port) const;
  int install_exit = 0;                      // what install_database.php answers
  /// Sets whose DB install_database.php made, with the admin password it was given.
  std::map<std::string, std::string> installed;
  int schema_exit = 0;                       // what check_database_schema.php answers, and prints
  std::string schema_out = "Database structure is ok.\n";
  /// The same script run with the live code (the survey's baseline, in /var/www/moodle-live).
  int live_schema_exit = 0;
  std::string live_schema_out = "Database structure is ok.\n";
  int maintenance_exit = 2;   // upgrade.php --is-maintenance-required (1: a release before 4.2)
  std::string missing_out;    // uninstall_plugins.php --show-missing
  std::string refused_err;    // upgrade.php's plugin check, e.g. "Dependencies check failed for local_x\n..."
  /// When > 0, an exec of a PHP script waits (up to 2 s) until this many run at once in its
  /// container, then they all go on: a caller that asks in a row never gathers them.
  int php_gather = 0;
  /// The most PHP scripts seen running at once in one container.
  int php_max_at_once = 0;
  /// When set, runs a container's entrypoint at wait (a throwaway container): exit code and logs.
  std::function<std::pair<int, std::string>(const ports::ContainerSpec& spec)> run_entrypoint;
  std::map<std::string, std::string> container_logs;

private:
  std::optional<std::string> config_php_setting(const Container& c, const std::string& name);
  ports::ExecResult redis(Container& c, const std::string& command, const std::vector<std::string>& env);
  FaultPlan& f_;
  FakeStorage& storage_;
  std::mutex php_mutex_;
  std::condition_variable php_cv_;
  std::map<std::string, int> php_running_;
  int next_port_ = 40000;
  int next_ip_ = 0;
};

class FakeCommands : public ports::Commands {
public:
  explicit FakeCommands(FaultPlan& f) : f_(f) {}
  ports::CommandResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::chrono::seconds timeout) override;
  bool executable(const std::string& path) override { return !missing.count(path); }
  std::set<std::string> missing;
  /// What a command does to the world besides being logged (an rsync copying fake files, a fake
  /// git answering); else every command succeeds silently.
  std::function<ports::CommandResult(const std::vector<std::string>&)> on_run;

private:
  FaultPlan& f_;
};

class FakeProxy;

/// Answers straight requests at a set's published port, and public ones from the proxy's backend.
class FakeHttp : public ports::Http {
public:
  FakeHttp(FaultPlan& f, FakeContainers& c, std::string proxy_url) : f_(f), c_(c), proxy_url_(std::move(proxy_url)) {}
  ports::HttpResponse get(const std::string& url, const std::string& host_header, std::chrono::milliseconds timeout) override;
  std::string serving;  // the set the proxy sends traffic to ("" = proxy down)
  /// Whether the proxy's container runs (always, when proxy_container is not set).
  bool proxy_up() const;
  /// When set: the public URL answers only while this container runs (a proxy init starts).
  std::string proxy_container;
  /// When set: with the proxy container gone or stopped, this container (an adopted stack's
  /// web, which published the public port before) answers the public URL while it runs.
  std::string stack_web;
  bool held = false;    // the proxy answers 503 itself

private:
  FaultPlan& f_;
  FakeContainers& c_;
  std::string proxy_url_;
};

class FakeDatabase : public ports::Database {
public:
  FakeDatabase(FaultPlan& f, FakeContainers& c) : f_(f), c_(c) {}
  void wait_ready(const ports::DbEndpoint& ep, std::chrono::milliseconds deadline) override;
  std::string server_version(const ports::DbEndpoint& ep) override;
  std::optional<std::string> config_value(const ports::DbEndpoint& ep, const std::string& name) override;
  nlohmann::json watermark(const ports::DbEndpoint& ep) override;
  ports::WriteCount writes_since(const ports::DbEndpoint& ep, const nlohmann::json& watermark) override;
  std::optional<long> first_course(const ports::DbEndpoint& ep) override;
  std::vector<ports::StoredFile> newest_files(const ports::DbEndpoint& ep, int count) override;
  std::unique_ptr<ports::Freezer> freezer(const ports::DbEndpoint& ep) override;
  void relax_durability(const ports::DbEndpoint& ep) override;
  void restore_durability(const ports::DbEndpoint& ep) override;
  std::string durability_settings(const ports::DbEndpoint& ep) override;

  /// What server_version answers ("" = a MariaDB 10.11 or a PostgreSQL 15 by the endpoint's kind).
  std::string version_answer;
  /// The upgraderunning row of Moodle's config table (nullopt: absent).
  std::optional<std::string> upgrade_running;
  std::string live_version = "2024042201.00", live_release = "4.4.1 (Build: 20240610)";
  std::string target_version = "2024042203.00", target_release = "4.4.3 (Build: 20240902)";
  /// The server setting db-prepare changes (per endpoint port), as MariaDB would hold it.
  std::map<int, double> dirty_pages_pct;
  long writes_on_green = 0;
  long writes_arriving_per_count = 0;  // users still writing on green: each count sees more
  /// The prefix of the site's tables: a query with another one finds no table, as on a real DB.
  std::string tables_prefix = "mdl_";

private:
  void require_tables(const ports::DbEndpoint& ep, const std::string& table) const;
  FaultPlan& f_;
  FakeContainers& c_;
};

class FakeProxy : public ports::Proxy {
public:
  FakeProxy(FaultPlan& f, FakeHttp& http) : f_(f), http_(http) {}
  void install(const ports::Backend& initial) override;
  std::optional<ports::Backend> current() const override { return current_; }
  void check_ready() override;
  ports::SwitchReport switch_to(const ports::Backend& target) override;
  bool hold() override;
  void release_hold() override;
  std::optional<int> in_flight() override;
  std::string kind() const override { return "fake"; }
  bool running = true;
  /// Requests still running on the current backend, polled down by one per in_flight() call.
  int requests_in_flight = 0;

private:
  FaultPlan& f_;
  FakeHttp& http_;
  std::optional<ports::Backend> current_;
};

class FakeProxies : public ports::Proxies {
public:
  explicit FakeProxies(FakeProxy& p) : p_(p) {}
  std::unique_ptr<ports::Proxy> open(const ports::ProxySite&) override;

private:
  FakeProxy& p_;
};

/// The textfiles and syslog lines, kept in memory; `fail_writes` makes every textfile write
/// report an error (as a full disk would), `summaries` holds (line, failed) in order.
class FakeReporting : public ports::Reporting {
public:
  std::string write_textfile(const std::string& path, const std::string& text) noexcept override {
    if (fail_writes) return "No space left on device";
    files[path] = text;
    return {};
  }
  std::optional<std::string> read_textfile(const std::string& path) noexcept override {
    auto it = files.find(path);
    return it == files.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  void summary(const std::string& line, bool failed) noexcept override { summaries.emplace_back(line, failed); }
  std::map<std::string, std::string> files;
  std::vector<std::pair<std::string, bool>> summaries;
  bool fail_writes = false;
};

/// Every fake, wired as the operations' ports.
struct FakeHost {
  explicit FakeHost(const std::string& pool, const std::string& proxy_url)
      : storage(faults, pool), containers(faults, storage), commands(faults), http(faults, containers, proxy_url), db(faults, containers),
        proxy(faults, http), proxies(proxy) {}
  FaultPlan faults;
  FakeStorage storage;
  FakeContainers containers;
  FakeCommands commands;
  FakeHttp http;
  FakeDatabase db;
  FakeProxy proxy;
  FakeProxies proxies;
  FakeReporting reporting;
  ports::Ports ports() { return {storage, containers, commands, http, db, proxies, reporting}; }
};

}  // namespace mupgrade::fakes
