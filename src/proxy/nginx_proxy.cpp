// nginx driver: the upstream lives in a file of its own; a switch rewrites it, checks the
// config with `nginx -t`, and reloads. New workers take new requests at once;
// old workers finish in-flight requests but close idle keep-alive connections, so clients
// that reuse one at that instant see a read error (measured: a few per switch at ~10k req/s).
// That is why HAProxy, switched without a reload, is the default.

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
      "    server {1}:{2} max_fails=0;\n"
      "    keepalive 32;\n"
      "}}\n"
      "server {{\n"
      "    listen 80 default_server;\n"
      "    client_max_body_size 100m;\n"
      "    location / {{\n"
      "        proxy_pass http://moodle;\n"
      "        proxy_http_version 1.1;\n"
      "        proxy_set_header Connection \"\";\n"
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

class NginxProxy : public Proxy {
public:
  NginxProxy(docker::DockerEngine& engine, ProxySite site) : engine_(engine), site_(std::move(site)) {}

  std::string kind() const override { return "nginx"; }

  void install(const Backend& initial) override { persist(initial); }

  std::optional<Backend> current() const override {
    std::ifstream in(site_.config_dir + "/" + kStateFile);
    if (!in) return std::nullopt;
    auto j = nlohmann::json::parse(in);
    if (std::string kind = j.value("kind", "nginx"); kind != "nginx")
      throw ProxyError(fmt::format("{} holds the state of a {} proxy, not nginx's", site_.config_dir, kind), "set proxy.kind to " + kind + " in the site config");
    return j.at("backend").get<Backend>();
  }

  // nginx has no runtime API: a hold would be a reload, and its old workers' requests cannot
  // be counted. The window relies on Moodle's maintenance page there.
  bool hold() override { return false; }
  void release_hold() override {}
  std::optional<int> in_flight() override { return std::nullopt; }

  void check_ready() override {
    require_running(engine_, site_);
    if (!current()) throw ProxyError(fmt::format("{} holds no mupgrade proxy state", site_.config_dir), "run 'mupgrade proxy init' for the live set");
  }

  SwitchReport switch_to(const Backend& target) override {
    SwitchReport report;
    report.previous = current();
    std::string conf = site_.config_dir + "/site.conf";
    std::string old_conf;
    {
      std::ifstream in(conf);
      old_conf.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto start = Clock::now();
    core::write_file_atomically(conf, render_site(target));
    auto t = reload();
    if (t.exit_code == 10) {
      core::write_file_atomically(conf, old_conf);  // the running nginx never saw the bad file
      throw ProxyError(fmt::format("nginx rejected the new config ({})", t.err.substr(0, t.err.find('\n'))),
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
      core::write_file_atomically(conf, old_conf);
      reload();
      throw;
    }
    core::write_file_atomically(site_.config_dir + "/" + kStateFile,
                          nlohmann::json{{"kind", "nginx"}, {"backend", target}}.dump(2) + "\n");
    return report;
  }

private:
  docker::ExecResult reload() {
    docker::ExecOptions run;
    run.cmd = {"sh", "-c", kReloadScript};
    run.timeout = std::chrono::seconds(15);
    return engine_.exec(site_.container, run);
  }

  void persist(const Backend& be) {
    core::write_file_atomically(site_.config_dir + "/site.conf", render_site(be));
    core::write_file_atomically(site_.config_dir + "/" + kStateFile,
                          nlohmann::json{{"kind", "nginx"}, {"backend", be}}.dump(2) + "\n");
  }

  docker::DockerEngine& engine_;
  ProxySite site_;
};

}  // namespace

std::unique_ptr<Proxy> make_nginx(docker::DockerEngine& engine, ProxySite site) {
  return std::make_unique<NginxProxy>(engine, std::move(site));
}

}  // namespace mupgrade::proxy
