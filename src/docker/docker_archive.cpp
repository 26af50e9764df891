// A container's files through the Engine API's archive endpoint (what `docker cp` uses): the
// tar Docker streams is extracted by GNU tar, which knows every header Go's archive/tar writes
// (PAX, long names, hard links); a lone file is read from the tar here. Reading an archive
// changes nothing in the container, running or stopped.

#include "engine_detail.hpp"

#include "mupgrade/docker/docker_engine.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <fcntl.h>
#include <cstdio>
#include <cstring>
#include <csignal>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace mupgrade::docker {

using nlohmann::json;

namespace {

constexpr std::uint64_t kGoModeDir = 1ULL << 31;  // Go's fs.ModeDir, as the stat header carries it
constexpr std::uint64_t kGoModeSymlink = 1ULL << 27;
constexpr int kMaxLinks = 8;

std::string base64_decode(const std::string& in) {
  std::string out;
  unsigned bits = 0;
  int have = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
    if (v < 0) continue;  // padding
    bits = (bits << 6) | static_cast<unsigned>(v);
    if ((have += 6) >= 8) out.push_back(static_cast<char>((bits >> (have -= 8)) & 0xff));
  }
  return out;
}

// A tar header's octal number field.
std::uint64_t octal(const char* f, size_t n) {
  std::uint64_t v = 0;
  for (size_t i = 0; i < n && f[i]; ++i)
    if (f[i] >= '0' && f[i] <= '7') v = v * 8 + static_cast<std::uint64_t>(f[i] - '0');
  return v;
}

// The first regular file's content in a tar (PAX and GNU long-name records skipped).
std::optional<std::string> first_file(const std::string& tar) {
  for (size_t at = 0; at + 512 <= tar.size();) {
    const char* h = tar.data() + at;
    if (h[0] == '\0') return std::nullopt;  // the end blocks
    std::uint64_t size = octal(h + 124, 12);
    char type = h[156];
    at += 512;
    if (type == '0' || type == '\0') return at + size <= tar.size() ? std::optional(tar.substr(at, size)) : std::nullopt;
    if (type != 'x' && type != 'g' && type != 'L' && type != 'K') return std::nullopt;
    at += (size + 511) / 512 * 512;
  }
  return std::nullopt;
}

// `s` with a backslash before each of `specials`.
std::string escaped(const std::string& s, const char* specials) {
  std::string out;
  for (char c : s) {
    if (std::strchr(specials, c)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

// A basic regular expression matching `s` literally (tar's --transform).
std::string bre_literal(const std::string& s) { return escaped(s, ".[]*^$\\,"); }

// A sed replacement text matching `s` literally.
std::string sed_replacement(const std::string& s) { return escaped(s, "\\&,"); }

// GNU tar reading the archive from a socket (a write to a tar that died fails with EPIPE
// instead of killing mupgrade with SIGPIPE); its messages go to an unlinked temp file.
class TarProcess {
public:
  /// Extracts into `dir`, the archive's top entry `top` (and what is under it) renamed `as`.
  TarProcess(const std::string& top, const std::string& dir, const std::string& as) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) throw Error(fmt::format("socketpair() failed: {}", std::strerror(errno)));
    char name[] = "/tmp/mupgrade-tar-XXXXXX";
    err_ = ::mkostemp(name, O_CLOEXEC);
    if (err_ >= 0) ::unlink(name);
    // The top entry becomes `as` (host_dir, made or given its mode and owner); hard links'
    // targets follow, symlinks' stay.
    std::vector<std::string> args = {kTar, "-x", "-f", "-", "-C", dir, "--numeric-owner", "--same-owner", "--same-permissions",
                                     fmt::format("--transform=s,^{}\\(/.*\\)\\?$,{}\\1,S", bre_literal(top), sed_replacement(as))};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // Like every command mupgrade runs (src/process/run.cpp), tar dies with it: after a kill -9
    // nothing goes on writing into a set the recovery removes. Only async-signal-safe calls
    // between fork and exec.
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(sv[1], 0);
      if (err_ >= 0) ::dup2(err_, 1), ::dup2(err_, 2);
      ::execve(kTar, argv.data(), environ);
      ::_exit(127);
    }
    int spawn_errno = errno;
    ::close(sv[1]);
    sock_ = sv[0];
    if (pid_ < 0) {
      ::close(sock_);
      sock_ = -1;
      throw Error(fmt::format("cannot run {} (fork: {})", kTar, std::strerror(spawn_errno)), "check the host's process limits");
    }
  }
  ~TarProcess() {
    if (sock_ >= 0) ::close(sock_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
    if (err_ >= 0) ::close(err_);
  }
  TarProcess(const TarProcess&) = delete;
  TarProcess& operator=(const TarProcess&) = delete;

  void feed(std::string_view d) {
    while (!broken_ && !d.empty()) {
      ssize_t n = ::send(sock_, d.data(), d.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) broken_ = true;  // tar exited: its status says why
      else d.remove_prefix(static_cast<size_t>(n));
    }
  }
  /// Ends the input and waits; "" when tar extracted everything, else what it said.
  std::string finish() {
    ::close(sock_);
    sock_ = -1;
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return {};
    std::string said(512, '\0');
    ssize_t n = err_ >= 0 ? ::pread(err_, said.data(), said.size(), 0) : 0;
    said.resize(n > 0 ? static_cast<size_t>(n) : 0);
    if (auto nl = said.find('\n'); nl != std::string::npos) said.resize(nl);
    if (said.empty() && WIFEXITED(status) && WEXITSTATUS(status) == 127) return "cannot run it: apt-get install tar";
    return said.empty() ? fmt::format("exit status {}", status) : said;
  }

private:
  pid_t pid_ = -1;
  int sock_ = -1;
  int err_ = -1;
  bool broken_ = false;
};

}  // namespace

std::optional<json> DockerEngine::path_stat(const std::string& container, const std::string& path) {
  std::string at = fmt::format("/containers/{}/archive?path={}", url_escape(container), url_escape(path));
  Reply r = call("HEAD", at);
  if (r.status == 404) return std::nullopt;
  if (r.status != 200) fail("HEAD", at, r);
  auto h = r.headers.find("x-docker-container-path-stat");
  if (h == r.headers.end()) throw DockerError(fmt::format("docker: HEAD {} gave no X-Docker-Container-Path-Stat", at), r.status);
  return json::parse(base64_decode(h->second));
}

std::optional<std::uint64_t> DockerEngine::copy_from_container(const std::string& container, const std::string& path,
                                                               const std::string& host_dir) {
  auto stat = path_stat(container, path);
  if (!stat) return std::nullopt;
  std::string at = fmt::format("/containers/{}/archive?path={}", url_escape(container), url_escape(path));
  std::uint64_t bytes = 0;
  std::optional<TarProcess> tar;
  if (!host_dir.empty()) {
    // tar extracts in host_dir's parent: a dir is made there when missing, a file replaces one.
    std::string dir = host_dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    auto slash = dir.rfind('/');
    std::string parent = slash == std::string::npos ? "." : slash == 0 ? "/" : dir.substr(0, slash);
    tar.emplace(stat->value("name", ""), parent, dir.substr(slash == std::string::npos ? 0 : slash + 1));
  }
  Reply r = call("GET", at, nullptr, kArchiveTimeout, [&](std::string_view d) {
    bytes += d.size();
    if (tar) tar->feed(d);
  });
  std::string said = tar ? tar->finish() : "";
  if (r.status != 200) fail("GET", at, r);
  if (!said.empty())
    throw DockerError(fmt::format("extracting {} of {} into {} failed ({}: {})", path, container, host_dir, kTar, said), r.status,
                      "check the free space there; the container was not changed");
  return bytes;
}

std::vector<ports::FileChange> DockerEngine::container_changes(const std::string& container) {
  std::string at = fmt::format("/containers/{}/changes", url_escape(container));
  Reply r = expect("GET", at, {200});
  std::vector<ports::FileChange> out;
  json list = json::parse(r.body);
  if (list.is_null()) return out;  // no change at all
  for (const json& c : list) {
    int kind = c.at("Kind").get<int>();
    if (kind < 0 || kind > 2) throw DockerError(fmt::format("docker: GET {} gave an unknown change kind {}", at, kind), r.status);
    out.push_back({c.at("Path").get<std::string>(), static_cast<ports::FileChange::Kind>(kind)});
  }
  return out;
}

std::optional<std::string> DockerEngine::read_container_file(const std::string& container, const std::string& path) {
  std::string p = path;
  for (int hop = 0; hop < kMaxLinks; ++hop) {
    auto stat = path_stat(container, p);
    if (!stat) return std::nullopt;
    auto mode = stat->value("mode", std::uint64_t{0});
    if (mode & kGoModeDir) return std::nullopt;
    if (mode & kGoModeSymlink) {
      // Docker gives the link's target resolved inside the container's root.
      std::string target = stat->value("linkTarget", "");
      if (target.empty() || target == p) return std::nullopt;
      p = target;
      continue;
    }
    std::string at = fmt::format("/containers/{}/archive?path={}", url_escape(container), url_escape(p));
    Reply r = call("GET", at);
    if (r.status == 404) return std::nullopt;
    if (r.status != 200) fail("GET", at, r);
    return first_file(r.body);
  }
  return std::nullopt;
}

}  // namespace mupgrade::docker
