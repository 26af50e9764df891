#pragma once
// Shared helpers of the integration tests: unique names, a btrfs area per test, and
// containers/networks/subvolumes removed when the test ends, even when it fails.

#include "mupgrade/db/sql_client.hpp"
#include "mupgrade/docker/docker_engine.hpp"
#include "mupgrade/ports/ports.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace mupgrade::itest {

/// The btrfs path tests may use: $MUPGRADE_TEST_POOL. Missing is a failure, never a skip.
std::string test_pool();
/// A name no other run uses: mupt-<prefix>-<pid>-<6 hex digits>. `prefix` is [a-z0-9]+.
std::string unique_name(const std::string& prefix);
/// Whether `name` is one unique_name made in this process (its pid), optionally followed by
/// "-<suffix>" when `allow_suffix` (a snapshot "<name>-rw"). Clean-ups touch nothing else.
bool is_own_test_name(std::string_view name, bool allow_suffix = false);
/// Why a clean-up must not delete `path` ("" when it may): it must be <parent>/<own test name>,
/// `parent` absolute and not "/". Nothing is read from the file system.
std::string own_test_path_problem(const std::string& path, const std::string& parent, bool allow_suffix = false);
/// $MUPGRADE_TEST_POOL without trailing '/', "" when unset (never throws: for destructors).
std::string test_pool_or_empty();
docker::DockerEngine& engine();
/// This host's adapters as the operations' ports.
ports::Ports host_ports();

/// Deletes what it was given, in reverse order, when destroyed: only containers and networks
/// named by unique_name in this process and subvolumes <test pool>/<such a name>[-suffix].
/// Anything else is left alone and reported as a test failure.
class Cleanup {
public:
  ~Cleanup();
  void container(std::string id) { items_.push_back({Kind::container, std::move(id)}); }
  void network(std::string id) { items_.push_back({Kind::network, std::move(id)}); }
  void subvolume(std::string path) { items_.push_back({Kind::subvolume, std::move(path)}); }

private:
  enum class Kind { container, network, subvolume };
  struct Item {
    Kind kind;
    std::string what;
  };
  std::vector<Item> items_;
};

/// A btrfs subvolume under the test pool, deleted at the end of the test.
std::string make_subvolume(Cleanup& cleanup, const std::string& prefix);

/// A DB server container on `network`, its data dir a subvolume (empty: initialised; a
/// snapshot: started as it is), its port on 127.0.0.1.
struct DbServer {
  std::string container;
  std::string datadir;  // host path (a subvolume)
  db::Endpoint endpoint;  // root/postgres superuser on the published port
};
DbServer start_db(Cleanup& cleanup, db::Kind kind, const std::string& network, const std::string& datadir,
                  const std::string& name_prefix = "db");

/// The stand-in Moodle at `release`, installed against a fresh DB: code, moodledata and db
/// subvolumes, a DB container and a web container on one network.
struct StandinSite {
  std::string network;
  std::string set_name;
  std::string code, moodledata;  // host paths
  DbServer db;
  std::string web;  // container
  int web_port = 0; // published on 127.0.0.1
  std::string host = "moodle.test";
};
/// `release_args` go to make-release (e.g. --add-plugin local_extra).
StandinSite start_standin(Cleanup& cleanup, db::Kind kind, const std::string& release,
                          const std::vector<std::string>& knobs = {}, const std::vector<std::string>& release_args = {});
/// Lays out a release into `dest` with tests/moodle-standin/make-release.
void make_release(const std::string& release, const std::string& dest, const std::vector<std::string>& extra_args = {});
/// Starts a web container for `code` + `moodledata` on `network` (code mounted read-only).
std::string start_web(Cleanup& cleanup, const std::string& network, const std::string& code,
                      const std::string& moodledata, const std::string& set_name, int* port = nullptr,
                      bool public_dir = false);

/// A scratch dir for this test process (/tmp/mupgrade-itest-<pid>), removed when it exits.
std::string scratch_dir();
/// Its path, without creating it.
std::string scratch_path();

/// The whole file ("" when it cannot be read).
std::string read_file(const std::string& path);

/// Runs a shell command on the host; returns its exit code (output captured into `out`), or
/// 128 + the signal when the shell itself was killed (as a shell reports a killed child: 137
/// for SIGKILL).
int sh(const std::string& command, std::string* out = nullptr);

/// Runs the mupgrade binary with `args` and MUPGRADE_CRASH_AFTER_STEP=<step> (output into
/// *out) and checks that it crashed where it was meant to, not earlier for another reason:
/// the process died by SIGKILL (status 137), and the one journal it began under
/// <state_dir>/journal/ shows `step` ended ok, no later step begun and no operation end.
/// Use as EXPECT_TRUE(crashes_after_step(...)).
::testing::AssertionResult crashes_after_step(const std::string& state_dir, const std::string& step,
                                              const std::string& args, std::string* out);

}  // namespace mupgrade::itest
