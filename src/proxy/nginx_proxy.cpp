// nginx driver: the upstream lives in a file of its own; a switch rewrites it, checks the
// config with `nginx -t`, and reloads. New workers take new requests at once;
// old workers finish in-flight requests but close idle keep-alive connections, so clients
// that reuse one at that instant see a read error (measured: a few per switch at ~10k req/s).
// That is why HAProxy, switched without a reload, is the default.
// A hold (the window) is a config of its own whose only location answers the maintenance
// 503 itself; blue's requests in flight run on in the old workers, so the hold is complete
// once every old worker has exited.

#include "mupgrade/proxy/proxy.hpp"

#include <fmt/format.h>

#include <chrono>
#include <fstream>

namespace mupgrade::proxy {

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kStateFile = "mupgrade-proxy.json";

std::string render_site(const Backend& be) {
  return fmt::format(
      "# Written by mupgrade for backend {0}: edit the site's config, not this file.\n"
      // The set's identity for any web image: the web image's own header when it sends one,
      // else the backend's name; only on answers that came from the upstream (a numeric
      // header time), never on nginx's own error pages.
      "map $upstream_http_x_mupgrade_set $mupgrade_set_answer {{\n"
      "    \"\" \"{0}\";\n"
      "    default $upstream_http_x_mupgrade_set;\n"
      "}}\n"
      "map $upstream_header_time $mupgrade_set {{\n"
      "    \"~^[0-9]\" $mupgrade_set_answer;\n"
      "    default \"\";\n"
      "}}\n"
      "upstream moodle {{\n"
      // No upstream keepalive: one request per connection (nginx sends Connection: close), so
      // an idle connection never holds a prefork web server's worker (see haproxy_proxy.cpp).
      "    server {1}:{2} max_fails=0;\n"
      "}}\n"
      "server {{\n"
      "    listen 80 default_server;\n"
      "    client_max_body_size 100m;\n"
      "    location / {{\n"
      "        proxy_pass http://moodle;\n"
      "        proxy_http_version 1.1;\n"
      "        proxy_set_header Host $http_host;\n"
      "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
      "        proxy_read_timeout 600s;\n"
      "        proxy_next_upstream error timeout;\n"
      // One identity header on every answer from the upstream, 404 included (a web server
      // answers the switch's probe file); nginx's own error pages get none ("" adds nothing).
      "        proxy_hide_header X-Mupgrade-Set;\n"
      "        add_header X-Mupgrade-Set $mupgrade_set always;\n"
      "    }}\n"
      "}}\n",
      be.name, be.host, be.port);
}

// Inside a quoted nginx string: the page holds no '$' (it would read as a variable).
std::string nginx_quoted(const std::string& text) {
  std::string q = "\"";
  for (char ch : text) {
    if (ch == '\\' || ch == '"') q += '\\';
    if (ch == '\n') q += "\\n";
    else q += ch;
  }
  return q + "\"";
}

// The hold: no upstream at all, so no request can reach a set; the same 503, Retry-After and
// page as HAProxy's errorfile and Moodle's CLI maintenance, and no identity header (the
// switch's confirmation must not take it for a set's answer).
std::string render_hold(const Backend& be) {
  return fmt::format(
      "# Written by mupgrade: traffic held (the window); backend {0} gets none until the hold ends.\n"
      "server {{\n"
      "    listen 80 default_server;\n"
      "    location / {{\n"
      // No types: a request for /x.html would get nginx's built-in "text/html" otherwise.
      "        types {{ }}\n"
      "        default_type \"text/html; charset=utf-8\";\n"
      "        add_header Retry-After {1} always;\n"
      "        add_header Cache-Control no-store always;\n"
      "        return 503 {2};\n"
      "    }}\n"
      "}}\n",
      be.name, kMaintenanceRetryAfterS, nginx_quoted(maintenance_body()));
}

// Old workers still finishing requests after a reload ("is shutting down" until they exit).
constexpr const char* kOldWorkersScript = R"sh(
n=0
for p in /proc/[0-9]*; do [ "$(tr -d '\000' < "$p/cmdline" 2>/dev/null)" = "nginx: worker process is shutting down" ] && n=$((n+1)); done
echo $n
)sh";

// One exec: check the config, reload, and return only once every worker that served the old
// config has stopped accepting (it retitles itself "is shutting down" as it closes its
// listeners). Without that wait a request just after the confirmation could still be taken by
// an old worker and answered from the old upstream (seen once in CI).
// Exit 10: the config was refused (stderr says why); 11: reload failed; 12: old workers stayed.
constexpr const char* kReloadScript = R"sh(
workers() { for p in /proc/[0-9]*; do [ "$(tr -d '\000' < "$p/cmdline" 2>/dev/null)" = "nginx: worker process" ] && echo "${p#/proc/}"; done; }
old=$(workers)
nginx -t -q || exit 10
nginx -s reload 2>&1 || exit 11
i=0
while [ $i -lt 1000 ]; do
  left=
  for p in $old; do [ "$(tr -d '\000' < "/proc/$p/cmdline" 2>/dev/null)" = "nginx: worker process" ] && left=1; done
  [ -z "$left" ] && exit 0
  sleep 0.005; i=$((i+1))
done
exit 12
)sh";

// What the state file says: the backend traffic goes to, and whether a hold keeps it from it.
struct State {
  Backend backend;
  bool held = false;
};

class NginxProxy : public Proxy {
public:
  NginxProxy(docker::DockerEngine& engine, ProxySite site) : engine_(engine), site_(std::move(site)) {}

  std::string kind() const override { return "nginx"; }

  void install(const Backend& initial) override {
    core::write_file_atomically(conf_path(), render_site(initial));
    persist({initial, false});
  }

  std::optional<Backend> current() const override {
    auto st = load();
    if (!st) return std::nullopt;
    return st->backend;
  }

  // The hold is on disk before nginx gets it: a hold left by a killed process is known to
  // release_hold (the window's undo), and a restarted proxy keeps holding until then.
  bool hold() override {
    auto st = load();
    if (!st) throw ProxyError(fmt::format("{} holds no mupgrade proxy state", site_.config_dir), "run 'mupgrade proxy init' for the live set");
    std::string old_conf = read_conf();
    persist({st->backend, true});
    core::write_file_atomically(conf_path(), render_hold(st->backend));
    auto t = reload();
    if (t.exit_code == 10) {  // the running nginx never saw the hold
      core::write_file_atomically(conf_path(), old_conf);
      persist({st->backend, st->held});
      throw ProxyError(fmt::format("nginx rejected the hold's config ({})", first_line(t.err)), "docker logs " + site_.container);
    }
    // Any other failure leaves the state held: release_hold writes the upstream back.
    if (t.exit_code != 0)
      throw ProxyError(fmt::format("nginx did not reload into the hold (exit {}: {})", t.exit_code, (t.out + t.err).substr(0, 200)),
                       "docker logs " + site_.container);
    return true;
  }

  void release_hold() override {
    auto st = load();
    if (!st || !st->held) return;
    core::write_file_atomically(conf_path(), render_site(st->backend));
    auto t = reload();
    if (t.exit_code != 0)
      throw ProxyError(fmt::format("nginx did not reload out of the hold (exit {}: {})", t.exit_code, (t.out + t.err).substr(0, 200)),
                       "docker logs " + site_.container);
    persist({st->backend, false});
  }

  // During a hold only the old workers can still talk to a set: their number, 0 once the last
  // one finished its requests and exited. Outside a hold nginx cannot tell (nullopt).
  std::optional<int> in_flight() override {
    auto st = load();
    if (!st || !st->held) return std::nullopt;
    docker::ExecOptions run;
    run.cmd = {"sh", "-c", kOldWorkersScript};
    run.timeout = std::chrono::seconds(15);
    auto r = engine_.exec(site_.container, run);
    if (r.exit_code != 0 || r.out.empty() || r.out[0] < '0' || r.out[0] > '9')
      throw ProxyError(fmt::format("cannot count nginx's old workers (exit {}: {})", r.exit_code, (r.out + r.err).substr(0, 200)),
                       "docker logs " + site_.container);
    return std::stoi(r.out);
  }

  void check_ready() override {
    require_running(engine_, site_);
    if (!current()) throw ProxyError(fmt::format("{} holds no mupgrade proxy state", site_.config_dir), "run 'mupgrade proxy init' for the live set");
  }

  // From a hold too: the target's upstream replaces the hold's page, which ends it; when the
  // switch is not confirmed the previous config (the hold, if one) is back.
  SwitchReport switch_to(const Backend& target) override {
    SwitchReport report;
    report.previous = current();
    std::string old_conf = read_conf();
    auto start = Clock::now();
    core::write_file_atomically(conf_path(), render_site(target));
    auto t = reload();
    if (t.exit_code == 10) {
      core::write_file_atomically(conf_path(), old_conf);  // the running nginx never saw the bad file
      throw ProxyError(fmt::format("nginx rejected the new config ({})", first_line(t.err)),
                       "check that the set's web container is on the proxy's network");
    }
    report.switched = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    try {
      if (t.exit_code != 0)
        throw ProxyError(fmt::format("nginx did not reload (exit {}: {})", t.exit_code, (t.out + t.err).substr(0, 200)),
                         "docker logs " + site_.container);
      report.confirmed = confirm_backend(site_, target.name);
    } catch (...) {
      // Not confirmed: the previous upstream serves again, then we report.
      core::write_file_atomically(conf_path(), old_conf);
      reload();
      throw;
    }
    persist({target, false});
    return report;
  }

private:
  std::string conf_path() const { return site_.config_dir + "/site.conf"; }

  std::string read_conf() const {
    std::ifstream in(conf_path());
    return {std::istreambuf_iterator<char>(in), {}};
  }

  static std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

  std::optional<State> load() const {
    std::ifstream in(site_.config_dir + "/" + kStateFile);
    if (!in) return std::nullopt;
    auto j = nlohmann::json::parse(in);
    if (std::string kind = j.value("kind", "nginx"); kind != "nginx")
      throw ProxyError(fmt::format("{} holds the state of a {} proxy, not nginx's", site_.config_dir, kind), "set proxy.kind to " + kind + " in the site config");
    return State{j.at("backend").get<Backend>(), j.value("held", false)};
  }

  void persist(const State& st) {
    core::write_file_atomically(site_.config_dir + "/" + kStateFile,
                                nlohmann::json{{"kind", "nginx"}, {"backend", st.backend}, {"held", st.held}}.dump(2) + "\n");
  }

  docker::ExecResult reload() {
    docker::ExecOptions run;
    run.cmd = {"sh", "-c", kReloadScript};
    run.timeout = std::chrono::seconds(15);
    return engine_.exec(site_.container, run);
  }

  docker::DockerEngine& engine_;
  ProxySite site_;
};

}  // namespace

std::unique_ptr<Proxy> make_nginx(docker::DockerEngine& engine, ProxySite site) {
  return std::make_unique<NginxProxy>(engine, std::move(site));
}

}  // namespace mupgrade::proxy
