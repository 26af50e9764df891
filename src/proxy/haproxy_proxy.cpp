// HAProxy driver: two server slots in one backend. A switch loads the target into the idle
// slot and flips the slots' admin states through the runtime API (no reload, in-flight
// requests finish on the old slot), then rewrites haproxy.cfg so a restart keeps the choice.

#include "mupgrade/proxy/proxy.hpp"

#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

namespace mupgrade::proxy {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kStateFile = "mupgrade-proxy.json";
// Slot -> set id, read by HAProxy for the identity header and changed at run time by a switch.
constexpr const char* kSetsMap = "sets.map";
constexpr const char* kConfigMount = "/usr/local/etc/haproxy";

struct SlotState {
  std::string active;  // "a" or "b"
  std::optional<Backend> a, b;
  std::optional<Backend>& slot(const std::string& s) { return s == "a" ? a : b; }
};

// The idle slot always gets a literal IPv4 placeholder, and an unresolvable name falls back to
// one: a server whose address HAProxy could not resolve at start-up has no address family,
// and the runtime API then refuses `set server addr` for it.
std::string server_line(const std::string& slot, const std::optional<Backend>& be, bool active) {
  if (!be || !active) return fmt::format("    server {} 127.0.0.1:1 disabled\n", slot);
  // The live set's name resolves at start-up (libc), so a restart follows its container.
  return fmt::format("    server {} {}:{} init-addr last,libc,127.0.0.1\n", slot, be->host, be->port);
}

std::string render_config(const SlotState& st) {
  std::string cfg =
      "# Written by mupgrade: edit the site's config, not this file.\n"
      "global\n"
      "    stats socket /usr/local/etc/haproxy/admin.sock mode 600 level admin\n"
      "    stats timeout 30s\n"
      "defaults\n"
      "    mode http\n"
      "    option http-keep-alive\n"
      "    option forwardfor\n"
      "    timeout connect 5s\n"
      "    timeout client 60s\n"
      "    timeout server 600s\n"
      "    timeout http-keep-alive 10s\n"
      // During a hold (the window) no server is usable: this is what users get.
      "    errorfile 503 /usr/local/etc/haproxy/maintenance.http\n"
      "frontend public\n"
      "    bind *:80\n"
      "    default_backend moodle\n"
      "backend moodle\n"
      "    retry-on conn-failure empty-response response-timeout\n"
      "    retries 3\n"
      // One request per server connection. A prefork web server (Apache with mod_php) gives an
      // idle keep-alive connection a worker of its own: a freshly started green with few workers
      // and a burst of held requests left the switch's probe waiting 1.3 s for a new worker.
      "    option http-server-close\n"
      // The set's identity for any web image: added from the slot that answered, unless the
      // web image sends its own (the project's does, from MUPGRADE_SET).
      "    http-response set-header X-Mupgrade-Set %[srv_name,map(" + std::string(kConfigMount) + "/" + kSetsMap +
      ")] if !{ res.hdr(X-Mupgrade-Set) -m found } { srv_name,map(" + std::string(kConfigMount) + "/" + kSetsMap + ") -m found }\n";
  cfg += server_line("a", st.a, st.active == "a");
  cfg += server_line("b", st.b, st.active == "b");
  return cfg;
}

std::string render_sets_map(const SlotState& st) {
  return fmt::format("a {}\nb {}\n", st.a ? st.a->name : "none", st.b ? st.b->name : "none");
}

// The 503 users get while the proxy holds traffic: what Moodle's CLI maintenance sends.
std::string maintenance_response() {
  std::string body = maintenance_body();
  return fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nRetry-After: {}\r\nCache-Control: no-store\r\n"
      "Content-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
      kMaintenanceRetryAfterS, body.size(), body);
}

class HaproxyProxy : public Proxy {
public:
  HaproxyProxy(docker::DockerEngine& engine, ProxySite site) : engine_(engine), site_(std::move(site)) {}

  std::string kind() const override { return "haproxy"; }

  void install(const Backend& initial) override {
    SlotState st{"a", initial, std::nullopt};
    persist(st);
  }

  std::optional<Backend> current() const override {
    auto st = load();
    if (!st) return std::nullopt;
    return st->slot(st->active);
  }

  bool hold() override {
    auto st = load();
    if (!st) throw ProxyError("the HAProxy config dir has no mupgrade state", "install the proxy config first");
    command(fmt::format("set server moodle/{} state maint", st->active));
    return true;
  }

  void release_hold() override {
    auto st = load();
    if (!st) return;
    command(fmt::format("set server moodle/{} state ready", st->active));
  }

  // scur of the active slot in `show stat` (CSV: pxname,svname,qcur,qmax,scur,...).
  std::optional<int> in_flight() override {
    auto st = load();
    if (!st) return std::nullopt;
    std::istringstream in(command("show stat", false));
    for (std::string line; std::getline(in, line);) {
      std::vector<std::string> f;
      std::istringstream fields(line);
      for (std::string x; std::getline(fields, x, ',');) f.push_back(x);
      if (f.size() > 4 && f[0] == "moodle" && f[1] == st->active) return std::atoi(f[4].c_str());
    }
    return std::nullopt;
  }

  void check_ready() override {
    require_running(engine_, site_);
    if (!load()) throw ProxyError(fmt::format("{} holds no mupgrade proxy state", site_.config_dir), "run 'mupgrade proxy init' for the live set");
    command("show info");  // the runtime API answers
  }

  SwitchReport switch_to(const Backend& target) override {
    auto st = load();
    if (!st) throw ProxyError("the HAProxy config dir has no mupgrade state", "install the proxy config first");
    if (target.ip.empty())
      throw ProxyError(fmt::format("backend {} has no address on the proxy's network", target.name),
                       "connect the set's web container to the proxy's network");
    SwitchReport report;
    report.previous = st->slot(st->active);
    std::string from = st->active, to = from == "a" ? "b" : "a";
    auto start = Clock::now();
    command(fmt::format("set server moodle/{} addr {} port {}", to, target.ip, target.port));
    // Some refusals read like notices; what counts is the address the slot holds now.
    if (std::string addr = slot_address(to); addr != target.ip)
      throw ProxyError(fmt::format("HAProxy did not take address {} for slot {} (it holds '{}')", target.ip, to, addr),
                       "restart the proxy container so it reloads its config, then retry");
    set_slot_identity(to, target.name);
    command(fmt::format("set server moodle/{} state ready", to));
    command(fmt::format("set server moodle/{} state maint", from));
    report.switched = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    try {
      report.confirmed = confirm_backend(site_, target.name);
    } catch (...) {
      // Not confirmed: traffic goes back to the slot that served before, then we report.
      command(fmt::format("set server moodle/{} state ready", from));
      command(fmt::format("set server moodle/{} state maint", to));
      throw;
    }
    st->slot(to) = target;
    st->active = to;
    persist(*st);
    return report;
  }

private:
  std::optional<SlotState> load() const {
    std::ifstream in(site_.config_dir + "/" + kStateFile);
    if (!in) return std::nullopt;
    auto j = nlohmann::json::parse(in);
    if (std::string kind = j.value("kind", "haproxy"); kind != "haproxy")
      throw ProxyError(fmt::format("{} holds the state of an {} proxy, not HAProxy's", site_.config_dir, kind), "set proxy.kind to " + kind + " in the site config");
    SlotState st;
    st.active = j.at("active").get<std::string>();
    if (!j["a"].is_null()) st.a = j["a"].get<Backend>();
    if (!j["b"].is_null()) st.b = j["b"].get<Backend>();
    return st;
  }

  // The identity header's map entry for a slot. A proxy started with a config from before the
  // map has none: its web image must send the header itself, as it did then.
  void set_slot_identity(const std::string& slot, const std::string& set) {
    std::string reply = command(fmt::format("set map {}/{} {} {}", kConfigMount, kSetsMap, slot, set), false);
    if (reply.find("Unknown map") != std::string::npos) return;
    if (!reply.empty()) throw ProxyError(fmt::format("HAProxy refused to map slot {} to set {} ({})", slot, set, reply));
  }

  void persist(const SlotState& st) {
    core::write_file_atomically(site_.config_dir + "/" + kSetsMap, render_sets_map(st));
    core::write_file_atomically(site_.config_dir + "/maintenance.http", maintenance_response());
    core::write_file_atomically(site_.config_dir + "/haproxy.cfg", render_config(st));
    nlohmann::json j = {{"kind", "haproxy"}, {"active", st.active},
                        {"a", st.a ? nlohmann::json(*st.a) : nlohmann::json()},
                        {"b", st.b ? nlohmann::json(*st.b) : nlohmann::json()}};
    core::write_file_atomically(site_.config_dir + "/" + kStateFile, j.dump(2) + "\n");
  }

  // srv_addr of a slot in `show servers state` (5th field).
  std::string slot_address(const std::string& slot) {
    std::istringstream in(command("show servers state moodle", false));
    for (std::string line; std::getline(in, line);) {
      std::istringstream f(line);
      std::string be_id, be_name, srv_id, srv_name, srv_addr;
      if (f >> be_id >> be_name >> srv_id >> srv_name >> srv_addr && be_name == "moodle" && srv_name == slot) return srv_addr;
    }
    return {};
  }

  // One command per connection on the admin socket (non-interactive mode). `check`: read the
  // reply as a verdict (a `show` reply is data, whose column names could read like failures).
  std::string command(const std::string& cmd, bool check = true) {
    std::string path = site_.config_dir + "/admin.sock";
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      int err = errno;
      if (fd >= 0) ::close(fd);
      throw ProxyError(fmt::format("cannot reach HAProxy's runtime API at {} ({})", path, std::strerror(err)),
                       fmt::format("start the proxy container {}", site_.container));
    }
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    std::string line = cmd + "\n";
    (void)!::write(fd, line.data(), line.size());
    std::string reply;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) reply.append(buf, static_cast<size_t>(n));
    ::close(fd);
    while (!reply.empty() && (reply.back() == '\n' || reply.back() == ' ')) reply.pop_back();
    if (!check) return reply;
    // Success answers are empty or say what changed; failures start with a known word.
    for (std::string_view bad : {"No such", "Unknown", "Require", "Invalid", "Permission", "error"})
      if (reply.find(bad) != std::string::npos)
        throw ProxyError(fmt::format("HAProxy refused '{}' ({})", cmd, reply));
    return reply;
  }

  docker::DockerEngine& engine_;
  ProxySite site_;
};

}  // namespace

std::unique_ptr<Proxy> make_haproxy(docker::DockerEngine& engine, ProxySite site) {
  return std::make_unique<HaproxyProxy>(engine, std::move(site));
}

}  // namespace mupgrade::proxy
