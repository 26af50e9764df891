// Proxy drivers against real HAProxy and nginx: the switch, zero failed requests under
// load, persistence across a proxy restart, and a refused bad target.

#include "fixtures.hpp"

#include "mupgrade/http/http_client.hpp"
#include "mupgrade/proxy/proxy.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;
namespace fs = std::filesystem;

namespace {

struct Stack {
  std::string network;
  std::string blue_dir;  // blue's code dir, also its writable mount
  proxy::Backend blue, green;
  proxy::ProxySite site;
  std::string proxy_id;
};

proxy::Backend static_backend(Cleanup& cleanup, const std::string& network, const std::string& set, std::string* dir = nullptr) {
  std::string code = make_subvolume(cleanup, "static");
  if (dir) *dir = code;
  fs::permissions(code, fs::perms::all);  // the web server's user writes slow.php's marks
  std::ofstream(code + "/index.html") << "served by " << set << "\n";
  // Marks (in the set's writable mount) when it started and when it finished its work.
  std::ofstream(code + "/slow.php") << "<?php touch('/var/www/moodledata/slow.started'); usleep(1500000);"
                                       " touch('/var/www/moodledata/slow.finished'); echo 'done';\n";
  std::string web = start_web(cleanup, network, code, code, set);
  auto info = engine().inspect_container(web);
  return {set, web, info->network_ips.at(network), 80};
}

// A web server that sends no X-Mupgrade-Set (PHP's own server, not the image's Apache): a
// site's own web image, as far as the proxy can tell.
proxy::Backend foreign_backend(Cleanup& cleanup, const std::string& network, const std::string& set) {
  std::string code = make_subvolume(cleanup, "foreign");
  std::ofstream(code + "/index.html") << "served by " << set << "\n";
  docker::ContainerSpec spec;
  spec.name = set;
  spec.image = "mupgrade/web:php8.2";
  spec.entrypoint = {"php", "-S", "0.0.0.0:80", "-t", "/srv/www"};
  spec.labels = {{"mupgrade.test", "1"}};
  spec.network = network;
  spec.mounts = {{code, "/srv/www", true}};
  auto id = engine().create_container(spec);
  cleanup.container(id);
  engine().start_container(id);
  return {set, set, engine().inspect_container(id)->network_ips.at(network), 80};
}

// Apache with mod_php as a site runs it (prefork), cut to one worker that keeps an idle
// keep-alive connection for 8 s: whatever connection the worker holds, nothing else is served.
proxy::Backend one_worker_backend(Cleanup& cleanup, const std::string& network, const std::string& set, std::string& dir) {
  dir = make_subvolume(cleanup, "oneworker");
  fs::permissions(dir, fs::perms::all);
  std::ofstream(dir + "/index.html") << "served by " << set << "\n";
  std::ofstream(dir + "/slow.php") << "<?php touch('/var/www/moodledata/slow.started'); usleep(500000); echo 'done';\n";
  docker::ContainerSpec spec;
  spec.name = set;
  spec.image = "mupgrade/web:php8.2";
  spec.entrypoint = {"sh", "-c",
                     "printf '<IfModule mpm_prefork_module>\\nStartServers 1\\nMinSpareServers 1\\nMaxSpareServers 1\\nServerLimit 1\\n"
                     "MaxRequestWorkers 1\\n</IfModule>\\nKeepAlive On\\nKeepAliveTimeout 8\\nMaxKeepAliveRequests 0\\n'"
                     " > /etc/apache2/conf-enabled/zz-one-worker.conf && exec /usr/local/bin/moodle-web-entrypoint"};
  spec.labels = {{"mupgrade.test", "1"}};
  spec.network = network;
  spec.mounts = {{dir, "/var/www/moodle", true}, {dir, "/var/www/moodledata", false}};
  spec.env = {{"MUPGRADE_SET", set}, {"MOODLE_WEBROOT", "/var/www/moodle"}};
  auto id = engine().create_container(spec);
  cleanup.container(id);
  engine().start_container(id);
  return {set, set, engine().inspect_container(id)->network_ips.at(network), 80};
}

// A client that keeps its connection to the proxy open between requests, as browsers do.
class KeepAliveClient {
public:
  explicit KeepAliveClient(const std::string& url) {
    int port = std::stoi(url.substr(url.rfind(':') + 1));
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    timeval tv{20, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) throw std::runtime_error("cannot connect to the proxy");
  }
  ~KeepAliveClient() { ::close(fd_); }
  KeepAliveClient(const KeepAliveClient&) = delete;
  KeepAliveClient& operator=(const KeepAliveClient&) = delete;

  // The whole answer (headers and a Content-Length body), or what came before a timeout.
  std::string get(const std::string& path, const std::string& host) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n";
    if (::send(fd_, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size())) return {};
    std::string in;
    char buf[4096];
    for (;;) {
      if (auto end = in.find("\r\n\r\n"); end != std::string::npos) {
        auto cl = in.find("Content-Length: ");
        if (cl == std::string::npos) cl = in.find("content-length: ");
        if (cl != std::string::npos && in.size() >= end + 4 + std::stoul(in.substr(cl + 16))) return in;
      }
      ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) return in;
      in.append(buf, static_cast<size_t>(n));
    }
  }

private:
  int fd_ = -1;
};

Stack start_stack(Cleanup& cleanup, const std::string& kind, bool foreign = false) {
  Stack s;
  s.network = unique_name("net");
  cleanup.network(engine().create_network(s.network, {{"mupgrade.test", "1"}}));
  s.blue = foreign ? foreign_backend(cleanup, s.network, unique_name("blue")) : static_backend(cleanup, s.network, unique_name("blue"), &s.blue_dir);
  s.green = foreign ? foreign_backend(cleanup, s.network, unique_name("green")) : static_backend(cleanup, s.network, unique_name("green"));
  s.site.config_dir = make_subvolume(cleanup, "proxyconf");
  s.site.public_host = "moodle.test";
  auto proxy = kind == "haproxy" ? proxy::make_haproxy(engine(), s.site) : proxy::make_nginx(engine(), s.site);
  proxy->install(s.blue);
  docker::ContainerSpec spec;
  spec.name = unique_name(kind);
  spec.image = kind == "haproxy" ? "mupgrade/haproxy:2.6" : "mupgrade/nginx-proxy:1.22";
  spec.labels = {{"mupgrade.test", "1"}};
  spec.network = s.network;
  spec.mounts = {{s.site.config_dir, kind == "haproxy" ? "/usr/local/etc/haproxy" : "/etc/nginx/mupgrade", false}};
  spec.ports = {{80, 0, "127.0.0.1"}};
  s.proxy_id = engine().create_container(spec);
  cleanup.container(s.proxy_id);
  engine().start_container(s.proxy_id);
  s.site.container = spec.name;
  s.site.public_url = "http://127.0.0.1:" + std::to_string(engine().inspect_container(s.proxy_id)->host_ports.at(80));
  proxy::confirm_backend(s.site, s.blue.name, std::chrono::seconds(20));
  return s;
}

std::unique_ptr<proxy::Proxy> driver(const std::string& kind, const Stack& s) {
  return kind == "haproxy" ? proxy::make_haproxy(engine(), s.site) : proxy::make_nginx(engine(), s.site);
}

}  // namespace

class ProxyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ProxyTest, SwitchesUnderLoadWithoutAFailedRequest) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  auto proxy = driver(GetParam(), s);
  EXPECT_EQ(proxy->current()->name, s.blue.name);

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, from_green{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&] {
      while (!stop) {
        auto r = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::milliseconds(5000));
        if (r.status == 200) ++ok;
        else ++failed;
        if (r.headers["x-mupgrade-set"] == s.green.name) ++from_green;
      }
    });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto report = proxy->switch_to(s.green);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  stop = true;
  for (auto& t : clients) t.join();

  EXPECT_EQ(failed.load(), 0) << "requests failed during the switch";
  EXPECT_GT(ok.load(), 20);
  EXPECT_GT(from_green.load(), 0);
  EXPECT_EQ(report.previous->name, s.blue.name);
  EXPECT_EQ(proxy->current()->name, s.green.name);
  std::cout << GetParam() << ": switch " << std::chrono::duration<double, std::milli>(report.switched).count() << " ms, confirmed after "
            << std::chrono::duration<double, std::milli>(report.confirmed).count() << " ms; " << ok << " ok, " << failed << " failed\n";
  RecordProperty("switch_ms", std::to_string(std::chrono::duration<double, std::milli>(report.switched).count()));
}

TEST_P(ProxyTest, ABackendThatSendsNoIdentityIsIdentifiedByTheProxy) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam(), true);  // confirms blue through the proxy
  // Straight at the backend: no identity of its own.
  auto direct = engine().exec(s.blue.host, {{"php", "-r", "echo implode(\"\\n\", get_headers('http://127.0.0.1/index.html'));"}});
  EXPECT_EQ(direct.out.find("X-Mupgrade-Set"), std::string::npos) << direct.out;
  EXPECT_NE(direct.out.find("200"), std::string::npos) << direct.out << direct.err;
  auto proxy = driver(GetParam(), s);
  EXPECT_NO_THROW(proxy->switch_to(s.green));
  auto r = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(5));
  EXPECT_EQ(r.headers["x-mupgrade-set"], s.green.name);
  EXPECT_NE(r.body.find(s.green.name), std::string::npos) << r.body;
  EXPECT_NO_THROW(proxy->switch_to(s.blue));
}

// Once switch_to returns, no request may be answered from the old backend (nginx's old
// workers could still accept for a moment after the new ones answered the confirmation).
TEST_P(ProxyTest, AfterASwitchReturnsEveryRequestGoesToTheNewBackend) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  auto proxy = driver(GetParam(), s);
  int stale = 0;
  std::string last;
  for (int round = 0; round < 8; ++round) {
    const proxy::Backend& to = round % 2 == 0 ? s.green : s.blue;
    proxy->switch_to(to);
    for (int i = 0; i < 15; ++i) {
      auto r = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(5));
      if (r.headers["x-mupgrade-set"] != to.name) ++stale, last = r.headers["x-mupgrade-set"];
    }
  }
  EXPECT_EQ(stale, 0) << "last stale answer from " << last;
}

TEST_P(ProxyTest, TheChoiceSurvivesAProxyRestartAndCanBeSwitchedBack) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  auto proxy = driver(GetParam(), s);
  proxy->switch_to(s.green);
  engine().stop_container(s.proxy_id, std::chrono::seconds(5));
  engine().start_container(s.proxy_id);
  // An ephemeral published port changes on restart (a real site publishes a fixed one).
  s.site.public_url = "http://127.0.0.1:" + std::to_string(engine().inspect_container(s.proxy_id)->host_ports.at(80));
  EXPECT_NO_THROW(proxy::confirm_backend(s.site, s.green.name));
  proxy = driver(GetParam(), s);
  EXPECT_EQ(proxy->current()->name, s.green.name);
  proxy->switch_to(s.blue);
  EXPECT_EQ(proxy->current()->name, s.blue.name);
  EXPECT_NO_THROW(proxy::confirm_backend(s.site, s.blue.name));
}

// Real Moodle's first page after an upgrade is a cold, full PHP render (seconds under load):
// the switch is confirmed from a static file the web server answers itself.
TEST_P(ProxyTest, TheSwitchIsConfirmedWithoutRenderingTheFrontPage) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  std::string code = make_subvolume(cleanup, "coldfront");
  std::ofstream(code + "/index.php") << "<?php sleep(12); echo 'front page';\n";  // longer than the confirmation's timeout
  fs::create_directories(code + "/pix");
  std::ofstream(code + "/pix/moodlelogo.svg") << "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n";
  std::string set = unique_name("cold");
  std::string web = start_web(cleanup, s.network, code, code, set);
  proxy::Backend cold{set, web, engine().inspect_container(web)->network_ips.at(s.network), 80};
  auto proxy = driver(GetParam(), s);
  EXPECT_NO_THROW(proxy->switch_to(cold));
  EXPECT_EQ(proxy->current()->name, set);
}

// A prefork web server gives each connection a worker for as long as the connection stays open.
// The proxy must not keep idle connections to it: a freshly started green (few workers) stalled
// the switch's probe and users' requests behind the proxy's own idle connections (1.3 s here
// with real Moodle and a saturated host).
TEST_P(ProxyTest, AnIdleConnectionToTheBackendDoesNotHoldItsOnlyWorker) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  std::string dir;
  proxy::Backend one = one_worker_backend(cleanup, s.network, unique_name("one"), dir);
  auto proxy = driver(GetParam(), s);
  proxy->switch_to(one);  // its probe went through the one worker, too

  KeepAliveClient browser(s.site.public_url);
  std::string slow;
  std::thread first([&] { slow = browser.get("/slow.php", s.site.public_host); });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{first};
  for (int i = 0; i < 4000 && !fs::exists(dir + "/slow.started"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(dir + "/slow.started")) << "the slow request never reached the only worker (an idle connection from the switch's probe kept it?)";
  // Sent while the worker runs the slow request: it needs the worker once that request is done,
  // while the browser's connection to the proxy stays open.
  auto second = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(4));
  first.join();
  EXPECT_NE(slow.find(" 200 "), std::string::npos) << slow;
  EXPECT_NE(slow.find("done"), std::string::npos) << slow;
  EXPECT_EQ(second.status, 200) << "the only worker stayed with the proxy's idle connection after the slow request (" << second.transport_error << ")";
  EXPECT_EQ(second.headers["x-mupgrade-set"], one.name);
  // Keep-alive towards clients is still there: the browser's open connection gets its next page.
  auto again = browser.get("/index.html", s.site.public_host);
  EXPECT_NE(again.find(" 200 "), std::string::npos) << again;
}

TEST_P(ProxyTest, ABadTargetIsRefusedAndTrafficStaysWhereItWas) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  auto proxy = driver(GetParam(), s);
  proxy::Backend nowhere{"nowhere", "mupgrade-no-such-host", "", 80};
  EXPECT_THROW(proxy->switch_to(nowhere), proxy::ProxyError);
  EXPECT_EQ(proxy->current()->name, s.blue.name);
  EXPECT_NO_THROW(proxy::confirm_backend(s.site, s.blue.name, std::chrono::milliseconds(3000)));
}

// The idle slot named a set that is gone when the proxy restarted (seen after a daemon
// restart): the next switch must still work.
TEST_P(ProxyTest, SwitchesAfterARestartWhileTheIdleBackendIsGone) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  auto proxy = driver(GetParam(), s);
  proxy->switch_to(s.green);
  proxy->switch_to(s.blue);
  engine().remove_container(s.green.host, true);
  engine().stop_container(s.proxy_id, std::chrono::seconds(5));
  engine().start_container(s.proxy_id);
  s.site.public_url = "http://127.0.0.1:" + std::to_string(engine().inspect_container(s.proxy_id)->host_ports.at(80));
  EXPECT_NO_THROW(proxy::confirm_backend(s.site, s.blue.name));
  proxy::Backend third = static_backend(cleanup, s.network, unique_name("third"));
  proxy = driver(GetParam(), s);
  EXPECT_NO_THROW(proxy->switch_to(third));
  EXPECT_EQ(proxy->current()->name, third.name);
}

// What the proxy answers itself during a hold: Moodle's 503, Retry-After and the page, and no
// set's identity (the answer came from no set).
void expect_held_answer(const Stack& s) {
  auto held = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(5));
  EXPECT_EQ(held.status, 503);
  EXPECT_EQ(held.headers["retry-after"], "300");
  EXPECT_EQ(held.headers["cache-control"], "no-store");
  EXPECT_EQ(held.headers["content-type"], "text/html; charset=utf-8");
  EXPECT_EQ(held.body, proxy::maintenance_body());
  EXPECT_EQ(held.headers.count("x-mupgrade-set"), 0u) << held.headers["x-mupgrade-set"];
}

// The window's hold: users get the proxy's own 503 with Retry-After, a request already running
// on blue finishes before the hold reports it drained, and the release gives blue its traffic
// back; a switch from a hold ends it on the new backend.
TEST_P(ProxyTest, HoldsNewRequestsDrainsTheOneInFlightAndReleases) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  auto proxy = driver(GetParam(), s);
  http::Response slow;
  std::thread running([&] { slow = http::get(s.site.public_url + "/slow.php", s.site.public_host, std::chrono::milliseconds(10000)); });
  struct Join {
    std::thread& t;
    ~Join() {
      if (t.joinable()) t.join();
    }
  } join{running};
  for (int i = 0; i < 1000 && !fs::exists(s.blue_dir + "/slow.started"); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(fs::exists(s.blue_dir + "/slow.started")) << "the slow request never reached blue";

  ASSERT_TRUE(proxy->hold());
  expect_held_answer(s);
  auto n = proxy->in_flight();
  ASSERT_TRUE(n.has_value());
  EXPECT_GE(*n, 1) << "the running request is not counted";
  EXPECT_FALSE(fs::exists(s.blue_dir + "/slow.finished")) << "the slow request ended before the hold was checked: the check proves nothing";
  // As the window's step waits: until nothing runs on blue.
  for (int i = 0; i < 2000 && n && *n > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    n = proxy->in_flight();
  }
  EXPECT_EQ(n, 0);
  EXPECT_TRUE(fs::exists(s.blue_dir + "/slow.finished")) << "the hold reported drained while blue still ran a request";
  running.join();
  EXPECT_EQ(slow.status, 200) << "the running request was cut";
  EXPECT_EQ(slow.body, "done");
  // Blue got nothing during the hold: the slow request was its only PHP request.
  expect_held_answer(s);
  EXPECT_EQ(proxy->current()->name, s.blue.name);

  proxy->release_hold();
  auto back = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(5));
  EXPECT_EQ(back.status, 200);
  EXPECT_EQ(back.headers["x-mupgrade-set"], s.blue.name);

  ASSERT_TRUE(proxy->hold());
  expect_held_answer(s);
  proxy->switch_to(s.green);
  auto green = http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(5));
  EXPECT_EQ(green.status, 200);
  EXPECT_EQ(green.headers["x-mupgrade-set"], s.green.name);
  proxy->release_hold();  // nothing held any more: traffic stays on green
  EXPECT_EQ(http::get(s.site.public_url + "/index.html", s.site.public_host, std::chrono::seconds(5)).headers["x-mupgrade-set"], s.green.name);
}

// A cutover killed during the window leaves the hold behind; recovery, another process with a
// driver of its own, releases it (nginx's hold also outlives a proxy restart until then).
TEST_P(ProxyTest, AHoldLeftByAKilledProcessIsReleasedByAnother) {
  Cleanup cleanup;
  Stack s = start_stack(cleanup, GetParam());
  ASSERT_TRUE(driver(GetParam(), s)->hold());
  expect_held_answer(s);
  if (GetParam() == "nginx") {
    engine().stop_container(s.proxy_id, std::chrono::seconds(5));
    engine().start_container(s.proxy_id);
    s.site.public_url = "http://127.0.0.1:" + std::to_string(engine().inspect_container(s.proxy_id)->host_ports.at(80));
    for (int i = 0; i < 400 && http::get(s.site.public_url + "/", s.site.public_host).status == 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    expect_held_answer(s);
  }
  auto recovery = driver(GetParam(), s);
  EXPECT_EQ(recovery->current()->name, s.blue.name);
  recovery->release_hold();
  EXPECT_NO_THROW(proxy::confirm_backend(s.site, s.blue.name, std::chrono::milliseconds(3000)));
}

INSTANTIATE_TEST_SUITE_P(Drivers, ProxyTest, ::testing::Values("haproxy", "nginx"),
                         [](const auto& p) { return p.param; });

