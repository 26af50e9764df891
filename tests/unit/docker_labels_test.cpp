// Label filters and labels of the Docker adapter, without a daemon: an empty label (or none)
// would widen a Docker filter to objects of every site, so it is refused before any request.

#include "mupgrade/docker/docker_engine.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>

using namespace mupgrade;
using mupgrade::docker::DockerEngine;

namespace {

// The message of the Error `f` throws, failing the test when it throws nothing or another type
// (a DockerError would mean a request was attempted).
std::string refusal(const std::function<void()>& f) {
  try {
    f();
  } catch (const docker::DockerError& e) {
    ADD_FAILURE() << "a request was attempted: " << e.what();
    return e.what();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a refusal";
  return {};
}

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A unix socket that listens and never answers: it tells whether anyone connected.
class SilentSocket {
public:
  SilentSocket() {
    path_ = "/tmp/mupgrade-unit-docker-" + std::to_string(::getpid()) + ".sock";
    ::unlink(path_.c_str());
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path_.c_str());
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(fd_, 8) != 0)
      ADD_FAILURE() << "cannot listen on " << path_ << ": " << std::strerror(errno);
  }
  ~SilentSocket() {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  bool connected() const {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return false;
    ::close(c);
    return true;
  }

private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST(DockerLabelsTest, FiltersEveryLabelByItsExactValue) {
  auto j = nlohmann::json::parse(docker::label_filters({{"mupgrade.site", "prod"}, {"mupgrade.role", "db"}}));
  EXPECT_EQ(j, (nlohmann::json{{"label", {"mupgrade.role=db", "mupgrade.site=prod"}}}));
  // Docker splits at the first '=': a value may hold one.
  EXPECT_EQ(nlohmann::json::parse(docker::label_filters({{"k", "a=b"}}))["label"][0], "k=a=b");
}

TEST(DockerLabelsTest, AnEmptyValueIsRefusedNamingTheLabel) {
  std::string what = refusal([] { docker::label_filters({{"mupgrade.site", ""}}); });  // expect-refused
  EXPECT_TRUE(has(what, "label 'mupgrade.site' with an empty value")) << what;
  what = refusal([] { docker::label_filters({{"mupgrade.site", "prod"}, {"mupgrade.set", ""}}); });  // expect-refused
  EXPECT_TRUE(has(what, "label 'mupgrade.set' with an empty value")) << what;
}

TEST(DockerLabelsTest, AnEmptyKeyAKeyWithEqualsAndNoLabelAtAllAreRefused) {
  std::string what = refusal([] { docker::label_filters({{"", "prod"}}); });
  EXPECT_TRUE(has(what, "empty key (value 'prod')")) << what;
  what = refusal([] { docker::label_filters({{"mupgrade.site=", "x"}}); });
  EXPECT_TRUE(has(what, "'mupgrade.site='")) << what;
  what = refusal([] { docker::label_filters({}); });
  EXPECT_TRUE(has(what, "every object")) << what;
}

TEST(DockerLabelsTest, LabelsOfNewObjectsMustNotBeEmpty) {
  EXPECT_NO_THROW(docker::check_labels({}, "container x"));
  EXPECT_NO_THROW(docker::check_labels({{"mupgrade.site", "prod"}}, "container x"));
  std::string what = refusal([] { docker::check_labels({{"mupgrade.site", ""}}, "container mupgrade--blue-db"); });  // expect-refused
  EXPECT_TRUE(has(what, "container mupgrade--blue-db with label 'mupgrade.site' with an empty value")) << what;
  what = refusal([] { docker::check_labels({{"", "1"}}, "network n"); });
  EXPECT_TRUE(has(what, "network n with a label with an empty key")) << what;
}

// The engine refuses before it sends anything: a listening socket sees no connection.
TEST(DockerLabelsTest, TheEngineRefusesBeforeAnyRequest) {
  SilentSocket sock;
  DockerEngine engine(sock.path());
  std::string what = refusal([&] { engine.list_containers({{"mupgrade.site", ""}}); });  // expect-refused
  EXPECT_TRUE(has(what, "'mupgrade.site'")) << what;
  refusal([&] { engine.list_containers({}); });
  refusal([&] { engine.list_containers({{"", "x"}}); });
  refusal([&] { engine.list_networks({{"mupgrade.site", ""}}); });  // expect-refused
  refusal([&] { engine.list_networks({}); });
  docker::ContainerSpec spec;
  spec.name = "mupgrade-x-db";
  spec.image = "none";
  spec.labels = {{"mupgrade.site", ""}};  // expect-refused
  refusal([&] { engine.create_container(spec); });
  refusal([&] { engine.create_network("mupgrade-x", {{"mupgrade.site", ""}}); });  // expect-refused
  EXPECT_FALSE(sock.connected()) << "a refused call must not reach the daemon";
}

// The control: with good labels the engine does go to the daemon (here: one that is not there).
TEST(DockerLabelsTest, GoodLabelsDoReachForTheDaemon) {
  DockerEngine engine("/nonexistent/mupgrade-unit/docker.sock");
  EXPECT_THROW(engine.list_containers({{"mupgrade.site", "prod"}}), docker::DockerError);
  EXPECT_THROW(engine.list_networks({{"mupgrade.site", "prod"}}), docker::DockerError);
}
