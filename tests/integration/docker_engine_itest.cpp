// The Docker Engine API adapter against the real daemon.

#include "fixtures.hpp"

#include <gtest/gtest.h>
#include <csignal>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <atomic>
#include <thread>

using namespace mupgrade;
using namespace mupgrade::itest;

namespace {
constexpr const char* kImage = "debian:bookworm-slim";

std::string sleeper(Cleanup& cleanup, docker::ContainerSpec spec = {}) {
  if (spec.name.empty()) spec.name = unique_name("sleep");
  spec.image = kImage;
  spec.cmd = {"sleep", "infinity"};
  spec.labels["mupgrade.test"] = "1";
  spec.stop_signal = "SIGKILL";
  std::string id = engine().create_container(spec);
  cleanup.container(id);
  engine().start_container(id);
  return id;
}
}  // namespace

TEST(DockerEngineTest, NegotiatesASupportedApiVersion) {
  auto v = engine().negotiate();
  EXPECT_FALSE(v.server_version.empty());
  EXPECT_GE(docker::compare_api_versions(v.api_version, docker::kMinApiVersion), 0);
  EXPECT_LE(docker::compare_api_versions(v.api_version, docker::kMaxApiVersion), 0);
}

TEST(DockerEngineTest, InspectsPresentAndMissingImages) {
  EXPECT_TRUE(engine().inspect_image(kImage));
  EXPECT_FALSE(engine().inspect_image("mupgrade/no-such-image:0"));
}

TEST(DockerEngineTest, CreatesContainersWithMountsEnvLabelsAndLoopbackPorts) {
  Cleanup cleanup;
  std::string dir = make_subvolume(cleanup, "mnt");
  std::ofstream(dir + "/hello.txt") << "from the host\n";
  docker::ContainerSpec spec;
  spec.env = {{"GREETING", "hi"}};
  std::string site = unique_name("site");
  spec.labels = {{"mupgrade.site", site}, {"mupgrade.role", "web"}};
  spec.mounts = {{dir, "/data", true}};
  spec.ports = {{8080, 0, "127.0.0.1"}};
  std::string id = sleeper(cleanup, spec);

  auto info = engine().inspect_container(id);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->running);
  EXPECT_EQ(info->labels["mupgrade.role"], "web");
  EXPECT_GT(info->host_ports.at(8080), 0);

  docker::ExecOptions cat;
  cat.cmd = {"sh", "-c", "cat /data/hello.txt; echo \"$GREETING\"; touch /data/x 2>/dev/null || echo ro >&2"};
  auto r = engine().exec(id, cat);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "from the host\nhi\n");
  EXPECT_EQ(r.err, "ro\n");

  auto listed = engine().list_containers({{"mupgrade.site", site}});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
}

// Docker reads `label=<key>` (an empty value) as "any value of <key>" and no label filter as
// "everything": with an empty site name a clean-up once removed every site's containers. The
// adapter refuses both before it asks Docker anything; a container of this test labelled like
// a site is neither listed nor touched by the refused calls, and nothing half-labelled is made.
TEST(DockerEngineTest, RefusesEmptyLabelFiltersAndLabelsBeforeAskingDocker) {
  Cleanup cleanup;
  std::string site = unique_name("site");
  std::string key = "mupt.test." + site;  // a key no other object carries
  docker::ContainerSpec spec;
  spec.labels = {{"mupgrade.site", site}, {"mupgrade.role", "web"}, {key, site}};
  std::string id = sleeper(cleanup, spec);

  // The hazard is real: Docker itself widens an empty value to any value, our container included.
  std::string out;
  ASSERT_EQ(sh("docker ps -aq --no-trunc --filter label=" + key, &out), 0) << out;
  EXPECT_NE(out.find(id), std::string::npos) << out;

  auto refused = [](const std::function<void()>& call, const std::string& names) {
    try {
      call();
      ADD_FAILURE() << "not refused; expected an error naming " << names;
    } catch (const docker::DockerError& e) {
      ADD_FAILURE() << "Docker was asked: " << e.what();
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(names), std::string::npos) << e.what();
    }
  };
  refused([&] { engine().list_containers({{"mupgrade.site", ""}}); }, "label 'mupgrade.site' with an empty value");  // expect-refused
  refused([&] { engine().list_containers({{key, ""}}); }, "label '" + key + "' with an empty value");
  refused([&] { engine().list_containers({{"mupgrade.site", site}, {"mupgrade.role", ""}}); }, "'mupgrade.role'");  // expect-refused
  refused([&] { engine().list_containers({{"", site}}); }, "empty key (value '" + site + "')");
  refused([&] { engine().list_containers({}); }, "every object");
  refused([&] { engine().list_networks({{"mupgrade.site", ""}}); }, "label 'mupgrade.site' with an empty value");  // expect-refused
  refused([&] { engine().list_networks({}); }, "every object");

  auto info = engine().inspect_container(id);
  ASSERT_TRUE(info);
  EXPECT_TRUE(info->running) << "the refused calls left the test's container alone";

  docker::ContainerSpec bad;
  bad.name = unique_name("bad");
  bad.image = kImage;
  bad.labels = {{"mupgrade.site", ""}};  // expect-refused
  refused([&] { engine().create_container(bad); }, "container " + bad.name + " with label 'mupgrade.site' with an empty value");
  EXPECT_FALSE(engine().inspect_container(bad.name)) << "no container with an empty site label is made";
  std::string net = unique_name("net");
  refused([&] { engine().create_network(net, {{"mupgrade.site", ""}}); }, "network " + net);  // expect-refused
  EXPECT_FALSE(engine().inspect_network(net)) << "no network with an empty site label is made";

  // The exact filter still finds exactly this container.
  auto listed = engine().list_containers({{"mupgrade.site", site}});
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, id);
}

TEST(DockerEngineTest, RefusesToPublishBeyondLoopback) {
  docker::ContainerSpec spec;
  spec.name = unique_name("open");
  spec.image = kImage;
  spec.ports = {{80, 0, "0.0.0.0"}};
  EXPECT_THROW(engine().create_container(spec), Error);
  EXPECT_FALSE(engine().inspect_container(spec.name));
}

TEST(DockerEngineTest, ExecStreamsDemultiplexedLinesWithUserWorkdirEnvAndExitCode) {
  Cleanup cleanup;
  std::string id = sleeper(cleanup);
  std::vector<std::pair<docker::Stream, std::string>> lines;
  docker::ExecOptions opts;
  opts.cmd = {"sh", "-c", "id -un; pwd; echo \"$A\" >&2; for i in 1 2 3; do echo line$i; done; exit 7"};
  opts.user = "nobody";
  opts.workdir = "/tmp";
  opts.env = {"A=from-env"};
  opts.on_line = [&](docker::Stream s, std::string_view l) { lines.emplace_back(s, std::string(l)); };
  auto r = engine().exec(id, opts);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.out, "nobody\n/tmp\nline1\nline2\nline3\n");
  EXPECT_EQ(r.err, "from-env\n");
  // Order holds within a stream; stdout and stderr may interleave either way.
  std::vector<std::string> out_lines, err_lines;
  for (auto& [stream, text] : lines) (stream == docker::Stream::out ? out_lines : err_lines).push_back(text);
  EXPECT_EQ(out_lines, (std::vector<std::string>{"nobody", "/tmp", "line1", "line2", "line3"}));
  EXPECT_EQ(err_lines, (std::vector<std::string>{"from-env"}));
}

TEST(DockerEngineTest, ExecTimeoutKillsTheProcess) {
  Cleanup cleanup;
  std::string id = sleeper(cleanup);
  docker::ExecOptions opts;
  opts.cmd = {"sh", "-c", "echo started; exec sleep 30"};
  opts.timeout = std::chrono::milliseconds(800);
  auto r = engine().exec(id, opts);
  EXPECT_TRUE(r.timed_out);
  EXPECT_LT(r.duration.count(), 5000);
  docker::ExecOptions ps;
  ps.cmd = {"sh", "-c", "for p in /proc/[0-9]*; do cat $p/cmdline 2>/dev/null | tr '\\0' ' '; echo; done"};
  auto left = engine().exec(id, ps);
  EXPECT_EQ(left.out.find("sleep 30"), std::string::npos) << left.out;
}

TEST(DockerEngineTest, StopKillWaitLogsAndRemove) {
  Cleanup cleanup;
  docker::ContainerSpec spec;
  spec.name = unique_name("life");
  spec.image = kImage;
  spec.cmd = {"sh", "-c", "echo to-out; echo to-err >&2; trap 'exit 3' TERM; while :; do sleep 0.1; done"};
  spec.labels = {{"mupgrade.test", "1"}};
  std::string id = engine().create_container(spec);
  cleanup.container(id);
  engine().start_container(id);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string logs = engine().logs(id);
  EXPECT_NE(logs.find("to-out"), std::string::npos);
  EXPECT_NE(logs.find("to-err"), std::string::npos);
  engine().stop_container(id, std::chrono::seconds(5));
  EXPECT_EQ(engine().wait_container(id), 3);
  EXPECT_FALSE(engine().inspect_container(id)->running);

  engine().start_container(id);
  engine().kill_container(id, "SIGKILL");
  EXPECT_EQ(engine().wait_container(id), 137);
  engine().remove_container(id);
  EXPECT_FALSE(engine().inspect_container(id));
}

// A kill -9 during a removal leaves the daemon removing the container; the recovery's own
// removal then meets "removal ... already in progress" (HTTP 409) and must wait, not fail.
TEST(DockerEngineTest, ARemovalAlreadyInProgressIsWaitedFor) {
  Cleanup cleanup;
  for (int round = 0; round < 6; ++round) {
    std::string id = sleeper(cleanup);
    docker::DockerEngine other;  // a second client, as the killed process was
    std::atomic<bool> go{false};
    std::string error;
    std::thread first([&] {
      while (!go) std::this_thread::yield();
      try { other.remove_container(id, true); } catch (const std::exception& e) { error = e.what(); }
    });
    go = true;
    std::string mine;
    try { engine().remove_container(id, true); } catch (const std::exception& e) { mine = e.what(); }
    first.join();
    EXPECT_EQ(error, "");
    EXPECT_EQ(mine, "");
    EXPECT_FALSE(engine().inspect_container(id));
  }
}

TEST(DockerEngineTest, NetworksConnectContainersByAlias) {
  Cleanup cleanup;
  std::string net = unique_name("net");
  cleanup.network(engine().create_network(net, {{"mupgrade.test", "1"}, {"mupt.net", net}}));
  docker::ContainerSpec a;
  a.network = net;
  a.network_aliases = {"alpha"};
  std::string ida = sleeper(cleanup, a);
  std::string idb = sleeper(cleanup);
  engine().connect_network(net, idb, {"beta"});
  EXPECT_FALSE(engine().inspect_container(idb)->network_ips.at(net).empty());
  docker::ExecOptions resolve;
  resolve.cmd = {"getent", "hosts", "alpha"};
  EXPECT_EQ(engine().exec(idb, resolve).exit_code, 0);
  auto n = engine().inspect_network(net);
  ASSERT_TRUE(n);
  EXPECT_EQ((*n)["Labels"]["mupgrade.test"], "1");
  auto listed = engine().list_networks({{"mupgrade.test", "1"}, {"mupt.net", net}});
  ASSERT_EQ(listed.size(), 1u) << "every label must match, each exactly";
  EXPECT_EQ(listed[0].name, net);
  EXPECT_EQ(listed[0].labels["mupt.net"], net);
  EXPECT_TRUE(engine().list_networks({{"mupgrade.test", "1"}, {"mupt.net", net + "-other"}}).empty());

}

TEST(DockerEngineTest, ErrorsCarryDockersMessageAndStatus) {
  try {
    engine().start_container("mupgrade-no-such-container");
    FAIL() << "expected a DockerError";
  } catch (const docker::DockerError& e) {
    EXPECT_EQ(e.http_status(), 404);
    EXPECT_NE(std::string(e.what()).find("No such container"), std::string::npos) << e.what();
  }
}

TEST(DockerEngineTest, AnUnreachableDaemonIsOneClearError) {
  docker::DockerEngine nowhere("/nonexistent/docker.sock");
  try {
    nowhere.negotiate();
    FAIL() << "expected a DockerError";
  } catch (const docker::DockerError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot reach the Docker daemon at /nonexistent/docker.sock"), std::string::npos);
    EXPECT_FALSE(e.hint().empty());
  }
}

// The archive API (what `docker cp` uses): a tree in the container's own layer, with a mount
// inside it, comes out with its owners, modes, symlinks and hard links, its top dir's own mode
// and owner on the host dir; a lone file is read (through a symlink too); the container is not
// changed, and a stopped one reads the same.
TEST(DockerEngineTest, CopiesATreeAndReadsAFileOutOfAContainersOwnLayer) {
  Cleanup cleanup;
  std::string mnt = make_subvolume(cleanup, "archmnt");
  std::ofstream(mnt + "/mounted.txt") << "from a mount\n";
  docker::ContainerSpec spec;
  spec.mounts = {{mnt, "/srv/tree/mnt", true}};
  std::string id = sleeper(cleanup, spec);
  docker::ExecOptions make;
  make.cmd = {"sh", "-c",
              "set -e; cd /srv/tree; echo 'a file' > a.txt; chown 1001:1002 a.txt; chmod 0640 a.txt; mkdir -p sub/deeper; "
              "chown 33:33 sub; chmod 0755 sub; ln -s ../a.txt sub/link; ln a.txt hard.txt; chown 1001:1001 /srv/tree; chmod 0750 /srv/tree"};
  ASSERT_EQ(engine().exec(id, make).exit_code, 0);

  std::string dest = make_subvolume(cleanup, "archout");
  auto bytes = engine().copy_from_container(id, "/srv/tree", dest);
  ASSERT_TRUE(bytes);
  EXPECT_GT(*bytes, 0u);
  namespace fs = std::filesystem;
  EXPECT_EQ(read_file(dest + "/a.txt"), "a file\n");
  EXPECT_EQ(read_file(dest + "/mnt/mounted.txt"), "from a mount\n");
  EXPECT_EQ(fs::read_symlink(dest + "/sub/link"), "../a.txt");
  EXPECT_EQ(read_file(dest + "/sub/link"), "a file\n");
  EXPECT_EQ(read_file(dest + "/hard.txt"), "a file\n");
  EXPECT_TRUE(fs::is_directory(dest + "/sub/deeper"));
  struct stat a{}, sub{}, top{};
  ASSERT_EQ(::stat((dest + "/a.txt").c_str(), &a), 0);
  ASSERT_EQ(::stat((dest + "/sub").c_str(), &sub), 0);
  ASSERT_EQ(::stat(dest.c_str(), &top), 0);
  EXPECT_EQ(a.st_uid, 1001u);
  EXPECT_EQ(a.st_gid, 1002u);
  EXPECT_EQ(a.st_mode & 07777, 0640u);
  EXPECT_EQ(sub.st_uid, 33u);
  EXPECT_EQ(top.st_uid, 1001u) << "the host dir takes the tree's own owner and mode";
  EXPECT_EQ(top.st_mode & 07777, 0750u);

  // The size alone: nothing extracted.
  EXPECT_EQ(engine().copy_from_container(id, "/srv/tree", ""), bytes);
  EXPECT_FALSE(engine().copy_from_container(id, "/srv/no-such-tree", dest + "/sub"));
  EXPECT_TRUE(fs::is_empty(dest + "/sub/deeper"));

  EXPECT_EQ(engine().read_container_file(id, "/srv/tree/a.txt"), "a file\n");
  EXPECT_EQ(engine().read_container_file(id, "/srv/tree/sub/link"), "a file\n");  // the symlink followed
  EXPECT_EQ(engine().read_container_file(id, "/srv/tree/mnt/mounted.txt"), "from a mount\n");
  EXPECT_FALSE(engine().read_container_file(id, "/srv/tree/sub"));  // a dir
  EXPECT_FALSE(engine().read_container_file(id, "/srv/tree/nope.php"));

  // Extracting where it cannot (no parent dir): one error naming tar and the target, the
  // container as it was.
  try {
    engine().copy_from_container(id, "/srv/tree", dest + "/no-such-dir/tree");
    ADD_FAILURE() << "extracted under a missing dir";
  } catch (const docker::DockerError& e) {
    EXPECT_NE(std::string(e.what()).find("extracting /srv/tree of " + id + " into " + dest + "/no-such-dir/tree failed (/bin/tar"),
              std::string::npos)
        << e.what();
  }
  docker::ExecOptions ls;
  ls.cmd = {"sh", "-c", "cat /srv/tree/a.txt; stat -c '%u:%g %a' /srv/tree/a.txt /srv/tree"};
  EXPECT_EQ(engine().exec(id, ls).out, "a file\n1001:1002 640\n1001:1001 750\n");
  engine().stop_container(id, std::chrono::seconds(1));
  EXPECT_EQ(engine().read_container_file(id, "/srv/tree/a.txt"), "a file\n") << "a stopped container reads the same";
}

// A container's own changes to its image's files, as `docker diff` lists them: added, modified
// and deleted paths with the dirs above them, a dir removed and made again, nothing of a mount;
// a stopped container lists the same. Then single paths copied out of it: a dir made where it
// was missing, a file landing at the given path, replacing what was there.
TEST(DockerEngineTest, ListsAContainersChangesToItsImageAndCopiesSinglePathsOut) {
  Cleanup cleanup;
  std::string mnt = make_subvolume(cleanup, "chgmnt");
  docker::ContainerSpec spec;
  spec.mounts = {{mnt, "/srv/mnt", false}};
  std::string id = sleeper(cleanup, spec);
  using K = ports::FileChange::Kind;
  auto listed = [&] {
    std::map<std::string, K> m;
    for (const auto& c : engine().container_changes(id)) m[c.path] = c.kind;
    return m;
  };
  EXPECT_EQ(listed().count("/srv/plug"), 0u);
  docker::ExecOptions change;
  change.cmd = {"sh", "-c",
                "set -e; mkdir -p /srv/plug/lang; echo plug > /srv/plug/version.php; echo en > /srv/plug/lang/en.php; "
                "chown -R 33:33 /srv/plug; echo changed >> /etc/debian_version; rm /etc/issue.net; "
                "rm -rf /usr/share/doc/apt && mkdir /usr/share/doc/apt && echo new > /usr/share/doc/apt/new; echo m > /srv/mnt/in-mount"};
  ASSERT_EQ(engine().exec(id, change).exit_code, 0);
  for (bool stopped : {false, true}) {
    if (stopped) engine().stop_container(id, std::chrono::seconds(1));
    auto m = listed();
    std::string ctx = stopped ? "stopped" : "running";
    EXPECT_EQ(m["/srv/plug"], K::added) << ctx;
    EXPECT_EQ(m["/srv/plug/version.php"], K::added) << ctx;
    EXPECT_EQ(m["/srv/plug/lang/en.php"], K::added) << ctx;
    EXPECT_EQ(m["/srv"], K::modified) << ctx << ": the dir above";
    EXPECT_EQ(m["/etc/debian_version"], K::modified) << ctx;
    EXPECT_EQ(m["/etc"], K::modified) << ctx;
    ASSERT_TRUE(m.count("/etc/issue.net")) << ctx;
    EXPECT_EQ(m["/etc/issue.net"], K::deleted) << ctx;
    // Removed and made again: the new entry added, an old one deleted (overlay2), or the dir
    // itself deleted (another driver).
    EXPECT_EQ(m["/usr/share/doc/apt/new"], K::added) << ctx;
    EXPECT_TRUE(m["/usr/share/doc/apt/copyright"] == K::deleted || m["/usr/share/doc/apt"] == K::deleted) << ctx;
    EXPECT_EQ(m.count("/srv/mnt/in-mount"), 0u) << ctx << ": a mount is not the container's layer";
    EXPECT_EQ(m.count("/bin/sh"), 0u) << ctx << ": the image's own files, unchanged";
  }
  std::string dest = make_subvolume(cleanup, "chgout");
  namespace fs = std::filesystem;
  // A dir where none was: made, with its owner; a file where one was: replaced.
  ASSERT_TRUE(engine().copy_from_container(id, "/srv/plug", dest + "/plug"));
  EXPECT_EQ(read_file(dest + "/plug/version.php"), "plug\n");
  EXPECT_EQ(read_file(dest + "/plug/lang/en.php"), "en\n");
  struct stat st{};
  ASSERT_EQ(::stat((dest + "/plug").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 33u);
  std::ofstream(dest + "/debian_version") << "old\n";
  ASSERT_TRUE(engine().copy_from_container(id, "/etc/debian_version", dest + "/debian_version"));
  std::string v = read_file(dest + "/debian_version");
  EXPECT_TRUE(v.ends_with("changed\n")) << v;
  EXPECT_TRUE(fs::is_regular_file(dest + "/debian_version"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dest), fs::directory_iterator()), 2) << "nothing else landed beside it";
  EXPECT_FALSE(engine().copy_from_container(id, "/etc/issue.net", dest + "/issue.net"));
  EXPECT_FALSE(fs::exists(dest + "/issue.net"));
}

// A kill -9 of mupgrade in the middle of a copy: the tar it runs dies with it (as rsync does),
// so nothing goes on writing into a set the recovery removes.
TEST(DockerEngineTest, TheTarOfACopyDiesWithItsKilledCaller) {
  Cleanup cleanup;
  std::string id = sleeper(cleanup);
  docker::ExecOptions big;
  big.cmd = {"sh", "-c", "mkdir -p /srv/big && head -c 400000000 /dev/zero > /srv/big/blob"};
  ASSERT_EQ(engine().exec(id, big).exit_code, 0);
  std::string dest = make_subvolume(cleanup, "archkill");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    try {
      engine().copy_from_container(id, "/srv/big", dest);
    } catch (...) {
    }
    ::_exit(0);
  }
  // The copy is under way once tar has made the file; then the caller is killed.
  bool started = false;
  for (int i = 0; i < 600 && !started; ++i) {
    started = std::filesystem::exists(dest + "/blob");
    if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  ASSERT_TRUE(started) << "tar never began";
  // No process left with the destination in its command line (tar's -C DEST).
  auto tar_left = [&] {
    for (const auto& e : std::filesystem::directory_iterator("/proc")) {
      std::string cmdline = read_file(e.path().string() + "/cmdline");
      if (cmdline.find(dest) != std::string::npos) return true;
    }
    return false;
  };
  bool left = true;
  for (int i = 0; i < 100 && left; ++i) {
    left = tar_left();
    if (left) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(left);
  EXPECT_LT(std::filesystem::file_size(dest + "/blob"), 400000000u) << "killed mid-copy";
}
