// The local-command adapter on real processes: output, exit code, environment, time limit, and
// a child that dies with a killed parent.
#include "mupgrade/process/run.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

using mupgrade::process::run;
using namespace std::chrono_literals;

TEST(ProcessTest, OutputExitCodeAndEnvironment) {
  auto r = run({"/bin/sh", "-c", "echo \"$MUPGRADE_SET\"; echo oops >&2; exit 3"}, {"MUPGRADE_SET=green-1"}, 10s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.output.find("green-1\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("oops\n"), std::string::npos) << r.output;
}

TEST(ProcessTest, AQuickChildIsReapedAtOnce) {
  // Boost 1.74's wait_for could miss an exited child and sleep out the whole limit.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(run({"/bin/true"}, {}, 60s).exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s);
}

// True once `pid` is gone (or a zombie waiting for init), polled for up to 3 s.
bool gone_soon(pid_t pid) {
  for (int i = 0; i < 300; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string p, comm, state;
    if (!(stat >> p >> comm >> state) || state == "Z") return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

// The pid a command wrote to `file` (0: none within 5 s).
pid_t pid_in(const std::string& file) {
  pid_t pid = 0;
  for (int i = 0; i < 500 && pid == 0; ++i) {
    std::ifstream(file) >> pid;
    if (pid == 0) std::this_thread::sleep_for(10ms);
  }
  return pid;
}

// A command that forks (as rsync forks its receiver): `sleep 60` in the background, its pid
// written to `pidfile`, then the command waits for it.
std::vector<std::string> forking_command(const std::string& pidfile) {
  return {"/bin/sh", "-c", "sleep 60 & echo $! >" + pidfile + ".tmp && mv " + pidfile + ".tmp " + pidfile + " && wait"};
}

TEST(ProcessTest, StoppedAtTheTimeLimitWithWhatItForked) {
  auto r = run({"/bin/sleep", "30"}, {}, 1s);
  EXPECT_TRUE(r.timed_out);
  EXPECT_NE(r.exit_code, 0);
  std::string pidfile = "/tmp/mupgrade-process-itest-limit-" + std::to_string(::getpid()) + ".pid";
  std::remove(pidfile.c_str());
  auto t0 = std::chrono::steady_clock::now();
  r = run(forking_command(pidfile), {}, 1s);
  EXPECT_TRUE(r.timed_out);
  // Not a timing claim: the forked sleep ends by itself after 60 s, so a run() that waited
  // for it (its output pipe still open) would pass the check below without stopping anything.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 30s) << "run() waited for what the command forked";
  pid_t forked = pid_in(pidfile);
  ASSERT_GT(forked, 0) << "the command did not fork";
  bool gone = gone_soon(forked);
  EXPECT_TRUE(gone) << "what the command forked outlived its time limit (pid " << forked << ")";
  if (!gone) ::kill(forked, SIGKILL);  // ours: the sleep this test started
  std::remove(pidfile.c_str());
}

// Runs `command` through run() in a forked parent, waits for the pid the command writes to
// `pidfile`, then kills that parent with -9. Returns the pid (0: the command did not write it).
pid_t pid_after_killing_the_parent(const std::vector<std::string>& command, const std::string& pidfile) {
  std::remove(pidfile.c_str());
  pid_t parent = ::fork();
  if (parent == 0) {
    run(command, {}, 120s);
    ::_exit(0);
  }
  pid_t pid = parent > 0 ? pid_in(pidfile) : 0;
  if (parent > 0) {
    ::kill(parent, SIGKILL);
    ::waitpid(parent, nullptr, 0);
  }
  return pid;
}

TEST(ProcessTest, AChildDiesWhenItsParentIsKilled) {
  // A process running a long command through run() (as adopt runs rsync) is killed with -9:
  // the command must not go on alone.
  std::string pidfile = "/tmp/mupgrade-process-itest-" + std::to_string(::getpid()) + ".pid";
  pid_t child = pid_after_killing_the_parent(
      {"/bin/sh", "-c", "echo $$ >" + pidfile + ".tmp && mv " + pidfile + ".tmp " + pidfile + " && exec sleep 60"}, pidfile);
  ASSERT_GT(child, 0) << "the command did not start";
  // The kernel kills it at once; it is reaped by init a moment later.
  bool gone = gone_soon(child);
  EXPECT_TRUE(gone) << "the command outlived its killed parent (pid " << child << ")";
  if (!gone) ::kill(child, SIGKILL);  // ours: the sleep this test started
  std::remove(pidfile.c_str());
}

TEST(ProcessTest, WhatTheCommandForkedDiesWhenItsParentIsKilled) {
  // rsync forks; PDEATHSIG reaches only the process run() started, so the whole group must go.
  std::string pidfile = "/tmp/mupgrade-process-itest-fork-" + std::to_string(::getpid()) + ".pid";
  pid_t forked = pid_after_killing_the_parent(forking_command(pidfile), pidfile);
  ASSERT_GT(forked, 0) << "the command did not fork";
  bool gone = gone_soon(forked);
  EXPECT_TRUE(gone) << "what the command forked outlived its killed parent (pid " << forked << ")";
  if (!gone) ::kill(forked, SIGKILL);  // ours: the sleep this test started
  std::remove(pidfile.c_str());
}
