// `mupgrade doctor`: can this host run mupgrade? One line per check, a fix for each failure.

#include "app.hpp"
#include "render.hpp"

#include "mupgrade/btrfs/btrfs.hpp"
#include "mupgrade/core/check.hpp"
#include "mupgrade/core/error.hpp"
#include "mupgrade/core/set_layout.hpp"
#include "mupgrade/core/site_config.hpp"
#include "mupgrade/core/site_state.hpp"
#include "mupgrade/docker/docker_engine.hpp"
#include "mupgrade/http/http_client.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

namespace mupgrade::cli {

using core::CheckResult;
using core::CheckStatus;

namespace {


CheckResult check_privileges() {
  if (::geteuid() == 0) return {"privileges", CheckStatus::ok, "running as root", ""};
  return {"privileges", CheckStatus::fail, "not root: btrfs subvolume deletion and the Docker socket need root",
          "run mupgrade as root (sudo mupgrade ...)"};
}

CheckResult check_pool(const std::string& pool) {
  namespace fs = std::filesystem;
  CheckResult r{"btrfs pool", CheckStatus::ok, "", ""};
  if (!fs::is_directory(pool)) {
    r.status = CheckStatus::fail;
    r.detail = fmt::format("{} does not exist", pool);
    r.fix = "create it on a btrfs filesystem, or run scripts/setup to loop-mount one";
    return r;
  }
  if (!btrfs::is_btrfs(pool)) {
    r.status = CheckStatus::fail;
    r.detail = fmt::format("{} is not on btrfs", pool);
    r.fix = "point --pool at a btrfs mount (scripts/setup can make one from a sparse file)";
    return r;
  }
  std::string probe = fmt::format("{}/.mupgrade-doctor-{}", pool, ::getpid());
  try {
    btrfs::create_subvolume(probe);
    btrfs::snapshot(probe, probe + "-snap");
    btrfs::delete_subvolume(probe + "-snap");
    btrfs::delete_subvolume(probe);
  } catch (const std::exception& e) {
    r.status = CheckStatus::fail;
    r.detail = fmt::format("cannot create, snapshot and delete a subvolume: {}", e.what());
    r.fix = "run as root on a writable btrfs mount";
    return r;
  }
  auto space = btrfs::space(pool);
  r.detail = fmt::format("{}: btrfs, subvolumes OK, {:.1f} GiB free of {:.1f} GiB", pool,
                         double(space.free_bytes) / (1 << 30), double(space.total_bytes) / (1 << 30));
  if (space.free_bytes < core::kMinPoolFreeBytes) {
    r.status = CheckStatus::fail;
    r.fix = "free space on the pool (mupgrade prune) or grow it";
  }
  return r;
}

std::vector<CheckResult> check_docker(const DoctorOptions& opts, docker::DockerEngine& engine, bool& reachable) {
  std::vector<CheckResult> out;
  try {
    auto v = engine.negotiate();
    out.push_back({"docker daemon", CheckStatus::ok, fmt::format("Docker {}, API {}", v.server_version, v.api_version), ""});
    reachable = true;
  } catch (const Error& e) {
    out.push_back({"docker daemon", CheckStatus::fail, e.what(), e.hint()});
    reachable = false;
    return out;
  }
  for (const auto& image : opts.images) {
    auto info = engine.inspect_image(image);
    if (info)
      out.push_back({"image " + image, CheckStatus::ok, info->value("Id", "").substr(7, 12), ""});
    else
      out.push_back({"image " + image, CheckStatus::fail, "missing", "build it: scripts/setup (or docker build containers/...)"});
  }
  return out;
}

CheckResult check_db(docker::DockerEngine& engine, const std::string& name) {
  auto info = engine.inspect_container(name);
  if (!info) return {"db container", CheckStatus::fail, name + " does not exist", "check the container name (docker ps -a)"};
  if (!info->running) return {"db container", CheckStatus::fail, fmt::format("{} is {}", name, info->status), "docker start " + name};
  docker::ExecOptions ping;
  // mariadb-admin ping exits 0 whenever the server runs, even without credentials.
  ping.cmd = {"sh", "-c", "if command -v mariadb-admin >/dev/null; then mariadb-admin ping --silent; else pg_isready -q; fi"};
  ping.timeout = std::chrono::seconds(10);
  auto r = engine.exec(name, ping);
  if (r.exit_code != 0) return {"db container", CheckStatus::fail, name + " runs but its server does not answer", "docker logs " + name};
  return {"db container", CheckStatus::ok, name + " answers", ""};
}

CheckResult check_proxy(docker::DockerEngine& engine, const DoctorOptions& opts) {
  auto info = engine.inspect_container(opts.proxy_container);
  if (!info) return {"proxy", CheckStatus::fail, opts.proxy_container + " does not exist", "check the container name (docker ps -a)"};
  if (!info->running)
    return {"proxy", CheckStatus::fail, fmt::format("{} is {}", opts.proxy_container, info->status), "docker start " + opts.proxy_container};
  if (opts.public_url.empty()) return {"proxy", CheckStatus::ok, opts.proxy_container + " runs (give --public-url to test a request)", ""};
  auto r = http::get(opts.public_url + "/", opts.public_host);
  if (r.status == 0)
    return {"proxy", CheckStatus::fail, fmt::format("{} does not answer ({})", opts.public_url, r.transport_error), "docker logs " + opts.proxy_container};
  auto set = r.headers.count("x-mupgrade-set") ? r.headers.at("x-mupgrade-set") : std::string("?");
  if (r.status >= 500 && r.status != 503)
    return {"proxy", CheckStatus::fail, fmt::format("{} answers HTTP {} (no healthy backend)", opts.public_url, r.status), "check the live set's web container"};
  return {"proxy", CheckStatus::ok, fmt::format("{} answers HTTP {} from set {}", opts.public_url, r.status, set), ""};
}

// With --site/--config: what the flags would say, read from the site config and site.json;
// a flag given still wins.
DoctorOptions with_site(const DoctorOptions& given) {
  DoctorOptions o = given;
  if (given.config.empty() && given.site.empty()) return o;
  auto cfg = load_site_config(given.config, given.site);
  if (!given.pool_given) o.pool = cfg.pool;
  if (!given.images_given) {
    o.images = {cfg.web_image, cfg.db.image, cfg.proxy.image};
    if (cfg.target_image != cfg.web_image) o.images.push_back(cfg.target_image);
  }
  if (o.db_container.empty())
    if (auto st = core::load_site_state(cfg.state_dir); st && !st->live_set.empty()) o.db_container = core::SetLayout(cfg).db_container(st->live_set);
  if (o.proxy_container.empty()) o.proxy_container = cfg.proxy.container;
  if (o.public_url.empty()) o.public_url = cfg.proxy.url;
  if (o.public_host.empty()) o.public_host = cfg.public_host;
  return o;
}

}  // namespace

int doctor(const DoctorOptions& given) {
  DoctorOptions opts = with_site(given);
  if (!opts.public_host.empty() && opts.public_url.empty())
    throw UsageError("--public-host is the Host header of the request to --public-url: it needs --public-url", "add --public-url http://127.0.0.1:PORT, or drop --public-host");
  std::vector<CheckResult> checks;
  checks.push_back(check_privileges());
  docker::DockerEngine engine(opts.docker_socket);
  bool docker_ok = false;
  for (auto& c : check_docker(opts, engine, docker_ok)) checks.push_back(std::move(c));
  checks.push_back(check_pool(opts.pool));
  if (docker_ok && !opts.db_container.empty()) checks.push_back(check_db(engine, opts.db_container));
  if (docker_ok && !opts.proxy_container.empty()) checks.push_back(check_proxy(engine, opts));
  if (opts.json)
    std::cout << json_result("doctor", {{"ok", core::all_passed(checks)}, {"checks", core::checks_to_json(checks)}}).dump(2) << "\n";
  else
    std::cout << core::render_checks(checks);
  // The README's promise for any failure: one error line naming it, and the fix as the hint.
  std::vector<const CheckResult*> failed;
  for (const auto& c : checks)
    if (c.status == CheckStatus::fail) failed.push_back(&c);
  if (failed.empty()) return kOk;
  const CheckResult& first = *failed.front();
  std::cerr << fmt::format("mupgrade: error: doctor: {}: {}{}\n", first.name, first.detail,
                           failed.size() > 1 ? fmt::format(" (and {} more failed checks)", failed.size() - 1) : "");
  if (!first.fix.empty()) std::cerr << "mupgrade: hint: " << first.fix << "\n";
  return kFailed;
}

}  // namespace mupgrade::cli
