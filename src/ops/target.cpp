#include "mupgrade/ops/target.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <random>

namespace mupgrade::ops {

using Clock = std::chrono::steady_clock;

namespace {

const std::chrono::seconds kExtractTimeout{1800};

std::string targets_dir(const core::SiteConfig& cfg) { return cfg.pool + "/targets"; }

std::string first_line(const std::string& s) {
  auto end = s.find('\n');
  return s.substr(0, end);
}

// git with the repository's ownership check waived for this one repository: the admin named it.
ports::CommandResult git(Site& site, const std::string& repo, std::vector<std::string> args) {
  std::vector<std::string> argv = {"/usr/bin/git", "-c", "safe.directory=" + repo, "-C", repo};
  argv.insert(argv.end(), args.begin(), args.end());
  if (!site.ports().commands.executable(argv[0])) throw Error("git is not installed", "apt-get install git");
  return site.ports().commands.run(argv, {}, kExtractTimeout);
}

void remove_partial(Site& site, const std::string& partial) {
  site.delete_if_subvolume(partial);
  site.ports().storage.remove_tree(partial);
}

}  // namespace

std::pair<int, std::string> run_in_image(Site& site, const std::string& image, std::vector<std::string> argv, std::vector<ports::Mount> mounts,
                                         const std::string& name) {
  return run_in_image(site.ports().containers, site.config().site, image, std::move(argv), std::move(mounts), name);
}

std::pair<int, std::string> run_in_image(ports::Containers& engine, const std::string& site, const std::string& image, std::vector<std::string> argv,
                                         std::vector<ports::Mount> mounts, const std::string& name) {
  ports::ContainerSpec spec;
  spec.name = name.empty() ? fmt::format("mupgrade-{}-target-{:08x}", site, std::random_device{}()) : name;
  spec.image = image;
  spec.entrypoint = std::move(argv);
  spec.labels = {{"mupgrade.site", site}, {"mupgrade.role", "target"}};
  spec.mounts = std::move(mounts);
  spec.network = "none";
  if (engine.inspect_container(spec.name)) engine.remove_container(spec.name, true);
  engine.create_container(spec);
  try {
    engine.start_container(spec.name);
    int code = engine.wait_container(spec.name, std::chrono::duration_cast<std::chrono::milliseconds>(kExtractTimeout));
    std::string out = engine.logs(spec.name, 100000);
    engine.remove_container(spec.name, true);
    return {code, out};
  } catch (...) {
    engine.remove_container(spec.name, true);
    throw;
  }
}

std::string TargetRelease::describe() const {
  switch (source) {
    case Source::git: return fmt::format("{} ({}) of {}", ref, commit.substr(0, 12), repo);
    case Source::image: return fmt::format("{} ({}), code at {}", image, image_id.substr(0, 19), image_code);
    case Source::code: break;
  }
  return code_dir;
}


TargetRelease resolve_target(Site& site, const std::string& override_dir, const TargetNames& names) {
  const auto& cfg = site.config();
  TargetRelease t;
  if (!override_dir.empty() || !cfg.target_code.empty()) {
    t.code_dir = override_dir.empty() ? cfg.target_code : override_dir;
    if (!site.ports().storage.is_directory(t.code_dir))
      throw UsageError(fmt::format("target {} is not a directory", t.code_dir), "point --target (or target.code) at a Moodle code tree");
    return t;
  }
  if (!cfg.target_git_repo.empty()) {
    t.source = TargetRelease::Source::git;
    t.repo = cfg.target_git_repo;
    t.ref = cfg.target_git_ref;
    if (!site.ports().storage.is_directory(t.repo))
      throw UsageError(fmt::format("{} {} is not a directory", names.repo, t.repo), "point it at a local clone or mirror of Moodle's repository");
    auto r = git(site, t.repo, {"rev-parse", "--verify", "--quiet", t.ref + "^{commit}"});
    if (r.exit_code != 0)
      throw UsageError(fmt::format("{} '{}' names no commit in {}", names.ref, t.ref, t.repo),
                       "git -C " + t.repo + " fetch (mupgrade does not fetch), or fix the ref");
    t.commit = first_line(r.output);
    t.code_dir = targets_dir(cfg) + "/git-" + t.commit.substr(0, 12);
    t.present = site.ports().storage.exists(t.code_dir);
    return t;
  }
  if (!cfg.target_image_code.empty()) {
    t.source = TargetRelease::Source::image;
    t.image = cfg.target_image;
    t.image_code = cfg.target_image_code;
    auto info = site.ports().containers.image(t.image);
    if (!info) throw UsageError(fmt::format("{} {} is not on this host", names.image, t.image), "docker pull (or build) it first");
    t.image_id = info->id;
    std::string id = t.image_id.substr(t.image_id.find(':') + 1);
    // The same image with the code read from another path is another release.
    std::string where = t.image_code == "/var/www/moodle" ? "" : t.image_code;
    std::replace_if(where.begin(), where.end(), [](char ch) { return !std::isalnum(static_cast<unsigned char>(ch)); }, '_');
    t.code_dir = targets_dir(cfg) + "/image-" + id.substr(0, 12) + where;
    t.present = site.ports().storage.exists(t.code_dir);
    return t;
  }
  throw UsageError("no target release given", "set target.code, target.git or target.image in the site config, or pass --target DIR");
}

core::VersionFile target_version(Site& site, const TargetRelease& t, const TargetNames& names) {
  if (t.source == TargetRelease::Source::code || t.extracted()) return site.code_version(t.code_dir);
  std::string text, where;
  if (t.source == TargetRelease::Source::git) {
    for (const auto& file : {core::CodeLayout{true}.version_file(), core::CodeLayout{false}.version_file()}) {
      auto r = git(site, t.repo, {"show", t.commit + ":" + file});
      if (r.exit_code == 0) {
        text = r.output;
        where = fmt::format("{}:{} in {}", t.ref, file, t.repo);
        break;
      }
    }
    if (where.empty()) throw UsageError(fmt::format("{} of {} holds no Moodle code (no version.php)", t.ref, t.repo), fmt::format("point {} at a Moodle release", names.ref));
  } else {
    auto [code, out] = run_in_image(site, t.image,
                                    {"/bin/sh", "-c", fmt::format("cat \"$0/{}\" 2>/dev/null || cat \"$0/{}\"", core::CodeLayout{true}.version_file(), core::CodeLayout{false}.version_file()),
                                     t.image_code},
                                    {});
    if (code != 0) throw UsageError(fmt::format("image {} holds no Moodle code at {} (no version.php)", t.image, t.image_code), fmt::format("set {} to where the image keeps Moodle", names.image_code));
    text = out;
    where = fmt::format("{}:{}/version.php", t.image, t.image_code);
  }
  return parse_checked_version(text, where);
}

void extract_target(Site& site, const TargetRelease& t, Progress& progress) {
  if (t.source == TargetRelease::Source::code || site.ports().storage.exists(t.code_dir)) return;
  auto& storage = site.ports().storage;
  auto started = Clock::now();
  storage.make_dirs(targets_dir(site.config()));
  // Built beside its final name and renamed when complete: a killed extraction never looks done.
  std::string partial = t.code_dir + ".partial";
  remove_partial(site, partial);
  storage.create_subvolume(partial);
  try {
    if (t.source == TargetRelease::Source::git) {
      std::string tar = t.code_dir + ".tar";
      auto a = git(site, t.repo, {"archive", "--format=tar", "-o", tar, t.commit});
      if (a.exit_code != 0) throw Error(fmt::format("git archive {} failed: {}", t.ref, first_line(a.output)));
      auto x = site.ports().commands.run({"/bin/tar", "-xf", tar, "-C", partial}, {}, kExtractTimeout);
      storage.remove(tar);
      if (x.exit_code != 0) throw Error(fmt::format("unpacking {} failed: {}", t.ref, first_line(x.output)));
    } else {
      auto [code, output] = run_in_image(site, t.image, {"cp", "-a", t.image_code + "/.", "/mupgrade-target/"}, {{partial, "/mupgrade-target", false}});
      if (code != 0) throw Error(fmt::format("copying the code out of {} failed: {}", t.image, first_line(output)), "check target.image_code");
    }
    site.code_version(partial);  // refuse a tree that holds no Moodle before naming it a release
    storage.rename(partial, t.code_dir);
  } catch (...) {
    remove_partial(site, partial);
    throw;
  }
  progress.note(fmt::format("target {} extracted into {} in {:.1f} s", t.describe(), t.code_dir,
                            std::chrono::duration<double>(Clock::now() - started).count()));
}

}  // namespace mupgrade::ops
