#pragma once
// The target release, from one of three sources (the site config's `target`):
//   code:  a code tree on this host (a btrfs subvolume makes green's code a constant-time snapshot);
//   git:   a ref of a local clone or mirror of Moodle's repository (mupgrade does not fetch);
//   image: a web image that carries the code (at target.image_code).
// Git and image releases are extracted once into <pool>/targets/<key>, a subvolume named by
// the commit or the image id, so the nightly rehearsal prepares what the cutover will use.

#include "mupgrade/core/moodle_version.hpp"
#include "mupgrade/ops/plans.hpp"
#include "mupgrade/ops/site.hpp"

#include <string>

namespace mupgrade::ops {

struct TargetRelease {
  enum class Source { code, git, image };
  Source source = Source::code;
  std::string code_dir;  // the code tree; for git and image the extracted copy (may not exist yet)
  std::string repo, ref, commit;
  std::string image, image_id, image_code;

  /// "v4.4.3 (3f2a9c1d04e5) of /srv/moodle.git", for the operator.
  std::string describe() const;
  bool present = false;  // git/image: extracted already (resolve_target looked)
  bool extracted() const { return source == Source::code || present; }
};

/// What a refusal calls the source: the config's keys, or `init`'s flags.
struct TargetNames {
  std::string repo = "target.git.repo", ref = "target.git.ref", image = "target image", image_code = "target.image_code";
};

/// Reads the config (or `override_dir`, a code tree) and pins the release: the commit a git ref
/// names now, the id an image tag names now. Writes nothing.
/// Runs a throwaway container of `image` with `argv` as its entrypoint (no network), removed
/// afterwards; returns its exit code and output. `name` "": a random one.
std::pair<int, std::string> run_in_image(Site& site, const std::string& image, std::vector<std::string> argv, std::vector<ports::Mount> mounts,
                                         const std::string& name = "");
/// The same, for a site that has no Site yet (adopt's probes: a Site makes the state dir).
std::pair<int, std::string> run_in_image(ports::Containers& engine, const std::string& site, const std::string& image, std::vector<std::string> argv,
                                         std::vector<ports::Mount> mounts, const std::string& name);

TargetRelease resolve_target(Site& site, const std::string& override_dir, const TargetNames& names = {});

/// The release's version.php, read without extracting anything (plan stays read-only).
/// A release without one is refused as bad input (UsageError).
core::VersionFile target_version(Site& site, const TargetRelease& target, const TargetNames& names = {});

/// Extracts a git or image release into its code_dir unless it is there already; a half-done
/// extraction (a killed run) is removed first. Says what it did on `out`.
void extract_target(Site& site, const TargetRelease& target, Progress& progress);

}  // namespace mupgrade::ops
