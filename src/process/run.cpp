#include "mupgrade/process/run.hpp"

#include <boost/process.hpp>
#include <boost/process/extend.hpp>

#include <csignal>
#include <sys/prctl.h>
#include <thread>
#include <unistd.h>

namespace mupgrade::process {

namespace bp = boost::process;

constexpr const char* kShell = "/bin/sh";

RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env, std::chrono::seconds timeout) {
  bp::ipstream out;
  bp::environment e = boost::this_process::environment();
  for (const auto& kv : env) {
    auto eq = kv.find('=');
    e[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // The command dies with us, and so does what it forks (rsync forks its receiver and
  // generator, which PDEATHSIG does not reach): it runs in a process group of its own under sh,
  // which the kernel sends SIGTERM when we die (even by kill -9) and which then kills the whole
  // group. So after a kill of mupgrade no rsync or git goes on writing into a set that the
  // recovery removes or makes again.
  std::vector<std::string> args = {"-c", "trap 'kill -KILL 0' TERM; \"$@\" & wait $!", "mupgrade-command"};
  args.insert(args.end(), argv.begin(), argv.end());
  pid_t parent = ::getpid();
  auto own_group_dying_with_parent = [parent](auto&) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
  };
  bp::child child(std::string(kShell), bp::args(args), e, (bp::std_out & bp::std_err) > out, bp::std_in < bp::null,
                  bp::extend::on_exec_setup = own_group_dying_with_parent);
  RunResult r;
  std::string line;
  std::thread reader([&] {
    while (std::getline(out, line)) r.output += line + "\n";
  });
  // Polls (waitpid WNOHANG): Boost 1.74's wait_for can miss a child that already exited.
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child.running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  r.timed_out = child.running();
  if (r.timed_out) ::kill(-child.id(), SIGKILL);  // the group: the command and what it forked
  child.wait();
  reader.join();
  r.exit_code = child.exit_code();
  return r;
}

}  // namespace mupgrade::process

namespace mupgrade::process {

bool LocalCommands::executable(const std::string& path) { return ::access(path.c_str(), X_OK) == 0; }

}  // namespace mupgrade::process
