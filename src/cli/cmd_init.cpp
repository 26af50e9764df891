// `mupgrade init`: a new site from a Moodle code tree, a git ref or an image. Reads the admin password (a file, or a
// prompt without echo on a terminal), wires the adapters, runs ops::init and renders it.

#include "app.hpp"
#include "host_adapters.hpp"

#include "mupgrade/core/error.hpp"
#include "mupgrade/ops/init.hpp"

#include <fmt/format.h>
#include <termios.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace mupgrade::cli {

namespace {

std::string trim_newlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::string absolute(const std::string& p) { return p.empty() ? p : std::filesystem::absolute(p).lexically_normal().string(); }

// Reads one line from the terminal with echo off; echo comes back even when reading fails.
std::string prompt_hidden(const std::string& question) {
  termios old{};
  if (::tcgetattr(STDIN_FILENO, &old) != 0) throw UsageError("cannot read the terminal's settings", "pass --admin-password-file FILE");
  termios quiet = old;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  std::cerr << question << std::flush;
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  std::string line;
  bool got = static_cast<bool>(std::getline(std::cin, line));
  ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
  std::cerr << "\n";
  if (!got) throw UsageError("no admin password was typed", "pass --admin-password-file FILE");
  return trim_newlines(line);
}

Secret admin_password(const InitOptions& o) {
  if (!o.admin_password_file.empty()) {
    std::ifstream in(o.admin_password_file);
    if (!in) throw UsageError(fmt::format("cannot read --admin-password-file {}", o.admin_password_file), "give a readable file (mode 600) holding the password");
    std::stringstream ss;
    ss << in.rdbuf();
    std::string pw = trim_newlines(ss.str());
    if (pw.empty()) throw UsageError(fmt::format("--admin-password-file {} is empty", o.admin_password_file), "write the admin password in it");
    if (pw.find('\n') != std::string::npos) throw UsageError(fmt::format("--admin-password-file {} holds more than one line", o.admin_password_file), "keep only the password in it");
    return Secret(pw);
  }
  if (!::isatty(STDIN_FILENO))
    throw UsageError("no admin password: --admin-password-file is not given and stdin is not a terminal", "pass --admin-password-file FILE (mode 600)");
  std::string pw = prompt_hidden("Moodle admin password: ");
  if (pw.empty()) throw UsageError("the admin password is empty", "type a password, or pass --admin-password-file FILE");
  if (prompt_hidden("again: ") != pw) throw UsageError("the two passwords differ", "run mupgrade init again");
  return Secret(pw);
}

void print_next_steps(const ops::InitOutcome& o, const std::string& site, std::ostream& out) {
  out << fmt::format(
      "\ninit done: site {} serves Moodle {} from set {} at {} (proxy on {}).\n"
      "config: {} (the DB password is in a 0600 file it names)\n"
      "next:\n"
      "  mupgrade status --site {}                 # what runs, what is live\n"
      "  # put the next release under 'target:' in {}, then:\n"
      "  mupgrade plan --site {}                   # read-only: checks and the expected window\n"
      "  mupgrade rehearse --site {}               # upgrade an isolated clone first\n"
      "  mupgrade cutover --site {}                # the upgrade, blue-green; 'mupgrade rollback' goes back\n"
      "  # Moodle needs admin/cli/cron.php every minute on the live set: in /etc/cron.d/,\n"
      "  * * * * * root mupgrade cron --site {} >/dev/null\n",
      site, o.release, o.set, o.public_url, o.proxy_url, o.config_file, site, o.config_file, site, site, site, site);
}

}  // namespace

int init(const InitOptions& opts) {
  ops::InitRequest req;
  req.site = opts.site;
  req.code = absolute(opts.code);
  req.git_repo = opts.git.find("://") == std::string::npos && opts.git.find('@') == std::string::npos ? absolute(opts.git) : opts.git;
  req.git_ref = opts.ref;
  req.image = opts.image;
  req.image_path = opts.image_path;
  req.db_kind = opts.db;
  req.url = opts.url;
  req.pool = absolute(opts.pool);
  req.state_dir = absolute(opts.state_dir);
  req.config_file = absolute(opts.config);
  req.web_image = opts.web_image;
  req.db_image = opts.db_image;
  req.proxy_image = opts.proxy_image;
  req.proxy_kind = opts.proxy;
  req.cache_kind = opts.cache;
  req.cache_image = opts.cache_image;
  req.prefix = opts.prefix;
  req.fullname = opts.fullname;
  req.dry_run = opts.dry_run;
  ops::init_site_config(req);  // bad flags are refused before a password is asked for
  if (!opts.dry_run) req.admin_password = admin_password(opts);
  HostAdapters host(opts.docker_socket);
  ops::TextProgress progress(std::cout);
  auto o = ops::init(host.ports(), req, progress, std::cout);
  if (!o.timings.empty()) std::cout << "\n" << core::render_timings(o.timings, 0);
  if (o.ok) {
    if (!opts.dry_run) print_next_steps(o, opts.site, std::cout);
    return kOk;
  }
  for (const auto& f : o.undo_failures) std::cout << "  undo failed: " << f << "\n";
  if (o.undo_failures.empty()) std::cout << "every step was undone: nothing of site " << opts.site << " is left.\n";
  std::cerr << fmt::format("mupgrade: error: init failed at step '{}': {}\n", o.failed_step, o.error);
  if (!o.hint.empty()) std::cerr << "mupgrade: hint: " << o.hint << "\n";
  return kFailed;
}

}  // namespace mupgrade::cli
