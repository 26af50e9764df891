# Shared helpers for mupgrade's scripts. Sourced, never run.
# Every helper is idempotent and stops only what it started (tracked by PID files).

MUPGRADE_STATE_DIR=${MUPGRADE_STATE_DIR:-/var/lib/mupgrade}
MUPGRADE_POOL_IMG=${MUPGRADE_POOL_IMG:-$MUPGRADE_STATE_DIR/pool.img}
MUPGRADE_POOL_SIZE=${MUPGRADE_POOL_SIZE:-60G}
MUPGRADE_BASE_IMAGE=${MUPGRADE_BASE_IMAGE:-debian:bookworm-slim}
MUPGRADE_DEBIAN_MIRROR=${MUPGRADE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export DOCKER_BUILDKIT=0  # the classic builder uses local base images without asking a registry

say() { printf 'mupgrade-setup: %s\n' "$*" >&2; }
die() { printf 'mupgrade-setup: error: %s\n' "$*" >&2; exit 1; }

# Retries apt: the mirror occasionally drops a connection.
apt_install() {
  local missing=()
  for p in "$@"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]}"
  for i in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null && return 0
    sleep $((i * 5))
  done
  die "apt-get install failed for: ${missing[*]} (check the Debian mirror in /etc/apt/sources.list)"
}

docker_answers() { timeout 5 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# Starts dockerd only when no daemon answers; its PID goes to a file so only we stop it.
ensure_dockerd() {
  docker_answers && return 0
  command -v dockerd >/dev/null || die "dockerd is missing (install docker.io)"
  say "no Docker daemon answers: starting dockerd"
  mkdir -p "$MUPGRADE_STATE_DIR"
  nohup dockerd >"$MUPGRADE_STATE_DIR/dockerd.log" 2>&1 &
  echo $! >"$MUPGRADE_STATE_DIR/dockerd.pid"
  for _ in $(seq 1 60); do docker_answers && return 0; sleep 0.5; done
  die "dockerd did not answer within 30 s (see $MUPGRADE_STATE_DIR/dockerd.log)"
}

is_btrfs() { [ "$(stat -f -c %T "$1" 2>/dev/null)" = btrfs ]; }

# Prints a writable btrfs path: $MUPGRADE_POOL when given, else a loop-mounted sparse file.
ensure_pool() {
  if [ -n "${MUPGRADE_POOL:-}" ]; then
    is_btrfs "$MUPGRADE_POOL" || die "MUPGRADE_POOL=$MUPGRADE_POOL is not on btrfs (unset it to get a loop-mounted pool)"
    echo "$MUPGRADE_POOL"; return 0
  fi
  local mnt=/srv/mupgrade-pool
  if is_btrfs "$mnt"; then echo "$mnt"; return 0; fi
  mkdir -p "$MUPGRADE_STATE_DIR" "$mnt"
  if [ ! -f "$MUPGRADE_POOL_IMG" ]; then
    say "creating sparse btrfs pool $MUPGRADE_POOL_IMG ($MUPGRADE_POOL_SIZE)"
    truncate -s "$MUPGRADE_POOL_SIZE" "$MUPGRADE_POOL_IMG"
    mkfs.btrfs -q "$MUPGRADE_POOL_IMG" >/dev/null || die "mkfs.btrfs failed on $MUPGRADE_POOL_IMG"
  fi
  mount -o loop,noatime "$MUPGRADE_POOL_IMG" "$mnt" || die "cannot loop-mount $MUPGRADE_POOL_IMG (is the btrfs module available?)"
  echo "$mnt"
}

# The Dockerfiles start FROM $MUPGRADE_BASE_IMAGE. Pull it; without a registry, build it
# with debootstrap and 'docker import' under the same name, so Dockerfiles stay unchanged.
ensure_base_image() {
  docker image inspect "$MUPGRADE_BASE_IMAGE" >/dev/null 2>&1 && return 0
  if timeout 60 docker pull -q "$MUPGRADE_BASE_IMAGE" >/dev/null 2>&1; then return 0; fi
  say "no registry answers: building $MUPGRADE_BASE_IMAGE with debootstrap"
  local suite=${MUPGRADE_BASE_IMAGE#*:}; suite=${suite%-slim}
  local root="$MUPGRADE_STATE_DIR/rootfs-$suite"
  rm -rf "$root.tmp"
  debootstrap --variant=minbase "$suite" "$root.tmp" "$MUPGRADE_DEBIAN_MIRROR" >"$MUPGRADE_STATE_DIR/debootstrap.log" 2>&1 \
    || die "debootstrap $suite failed (see $MUPGRADE_STATE_DIR/debootstrap.log)"
  rm -rf "$root.tmp"/var/cache/apt/archives/*.deb "$root.tmp"/var/lib/apt/lists/*
  tar -C "$root.tmp" -c . | docker import -c 'CMD ["bash"]' - "$MUPGRADE_BASE_IMAGE" >/dev/null \
    || die "docker import of $MUPGRADE_BASE_IMAGE failed"
  rm -rf "$root.tmp"
}

# Builds one image from containers/<dir> unless an image with the same tag and source hash exists.
build_image() {
  local dir=$1 tag=$2; shift 2
  local src hash
  src="$(dirname "${BASH_SOURCE[0]}")/../containers/$dir"
  hash=$( (cd "$src" && find . -type f -print0 | sort -z | xargs -0 sha256sum; echo "$*") | sha256sum | cut -c1-16)
  if [ "$(docker image inspect -f '{{index .Config.Labels "mupgrade.source-hash"}}' "$tag" 2>/dev/null)" = "$hash" ]; then return 0; fi
  say "building $tag"
  docker build -q --label "mupgrade.source-hash=$hash" "$@" -t "$tag" "$src" >"$MUPGRADE_STATE_DIR/build-${tag//[\/:]/_}.log" 2>&1 \
    || { tail -20 "$MUPGRADE_STATE_DIR/build-${tag//[\/:]/_}.log" >&2; die "docker build of $tag failed"; }
}

build_images() {
  build_image web mupgrade/web:php8.2 --build-arg BASE="$MUPGRADE_BASE_IMAGE" --build-arg PHP=8.2
  build_image mariadb mupgrade/mariadb:10.11 --build-arg BASE="$MUPGRADE_BASE_IMAGE"
  build_image postgres mupgrade/postgres:15 --build-arg BASE="$MUPGRADE_BASE_IMAGE"
  build_image haproxy mupgrade/haproxy:2.6 --build-arg BASE="$MUPGRADE_BASE_IMAGE"
  build_image nginx-proxy mupgrade/nginx-proxy:1.22 --build-arg BASE="$MUPGRADE_BASE_IMAGE"
}
