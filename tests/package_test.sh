#!/usr/bin/env bash
# The Debian package, end to end: CPack makes it from this build's install rules; its name,
# files, Depends and units are checked with dpkg-deb; then it is installed with apt in a clean
# Debian 12 container (the project's base image, scripts/lib.sh ensure_base_image) and
# `mupgrade --version`, `--help`, `doctor` (against this host's Docker daemon through its
# socket) and the bash completion run there; `apt-get remove` and `dpkg --purge` leave a site's
# config and state alone. Touches only its temp dir and its container (a test name with this PID).
set -euo pipefail
src=$1 build=$2
. "$src/scripts/lib.sh"
tmp=$(mktemp -d /tmp/mupgrade-pkgtest-XXXXXX)
# A test name (scripts/clean-test-leftovers removes it if this process is killed before its trap).
name=mupt-pkg-$$-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
cleanup() { docker rm -f "$name" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "package test: $*" >&2; exit 1; }
t0=$(date +%s.%N)

(cd "$build" && cpack -G DEB -B "$tmp" >"$tmp/cpack.log" 2>&1) || { cat "$tmp/cpack.log"; fail "cpack failed"; }
deb=$(ls "$tmp"/mupgrade_*.deb)
[[ $(basename "$deb") =~ ^mupgrade_[0-9]+\.[0-9]+\.[0-9]+_$(dpkg --print-architecture)\.deb$ ]] || fail "bad file name $deb"
echo "package: $(basename "$deb"), $(stat -c %s "$deb") bytes"

contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/mupgrade ./usr/share/man/man8/mupgrade.8.gz ./usr/share/man/man5/mupgrade.yml.5.gz \
  ./usr/share/bash-completion/completions/mupgrade ./usr/share/mupgrade/playbooks/cutover.yml \
  ./usr/share/mupgrade/playbooks/rehearse.yml ./usr/share/mupgrade/playbooks/rollback.yml \
  ./usr/lib/systemd/system/mupgrade-rehearse@.service ./usr/lib/systemd/system/mupgrade-rehearse@.timer \
  ./usr/share/doc/mupgrade/examples/site.yml ./usr/share/doc/mupgrade/examples/cron.d/mupgrade-rehearse; do
  grep -qE " $f\$" <<<"$contents" || fail "$f is not in the package"
done
grep -qE '^-rwxr-xr-x root/root .* \./usr/bin/mupgrade$' <<<"$contents" || fail "/usr/bin/mupgrade is not root's 0755"
depends=$(dpkg-deb -f "$deb" Depends)
for d in libcurl4 libbtrfsutil1 libyaml-cpp0.7 libmariadb3 libpq5 libfmt9 'docker.io | docker-engine' btrfs-progs; do
  grep -qF "$d" <<<"$depends" || fail "Depends lacks $d: $depends"
done
unit() { dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/lib/systemd/system/$1"; }
unit mupgrade-rehearse@.service | grep -qx 'ExecStart=/usr/bin/mupgrade rehearse --site %i' || fail "the service does not run /usr/bin/mupgrade"
for l in Type=oneshot Nice=10 IOSchedulingClass=idle; do unit mupgrade-rehearse@.service | grep -qx "$l" || fail "service lacks $l"; done
for l in Persistent=true 'RandomizedDelaySec=.*'; do unit mupgrade-rehearse@.timer | grep -qx "$l" || fail "timer lacks $l"; done
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/doc/mupgrade/examples/cron.d/mupgrade-rehearse | grep -q ' /usr/bin/mupgrade rehearse --site SITE' \
  || fail "the cron example does not run /usr/bin/mupgrade"
for s in postinst prerm postrm; do dpkg-deb -I "$deb" "$s" >/dev/null || fail "no $s"; done

ensure_base_image
docker run -d --name "$name" --label mupgrade.test=1 -v /var/run/docker.sock:/var/run/docker.sock "$MUPGRADE_BASE_IMAGE" sleep 1800 >/dev/null
docker cp "$deb" "$name:/tmp/mupgrade.deb"
inside() { docker exec "$name" "$@"; }
t1=$(date +%s.%N)
# No service starts in the container (docker.io's postinst would try to start a dockerd).
inside sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
inside sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends /tmp/mupgrade.deb' \
  >"$tmp/apt.log" 2>&1 || { tail -30 "$tmp/apt.log"; fail "apt-get install of the package failed"; }
t2=$(date +%s.%N)

version=$(inside mupgrade --version)
[[ $version =~ ^mupgrade\ [0-9]+\.[0-9]+\.[0-9]+\ \(build\ [^\ ]+\)$ ]] || fail "--version says: $version"
help=$(inside mupgrade --help)
for c in doctor plan cutover rollback rehearse prune status adopt; do grep -qE "^  $c " <<<"$help" || fail "--help lacks $c"; done
set +e
doctor=$(inside mupgrade doctor 2>&1)
rc=$?
set -e
echo "$doctor"
grep -qE '^ok +privileges +running as root' <<<"$doctor" || fail "doctor did not check privileges"
grep -qE '^ok +docker daemon +Docker ' <<<"$doctor" || fail "doctor did not reach the Docker daemon"
grep -qE '^FAIL +btrfs pool +/srv/mupgrade-pool does not exist' <<<"$doctor" || fail "doctor did not check the pool"
[ "$rc" = 1 ] || fail "doctor with no pool exited $rc, not 1"
[ "$(grep -c '^mupgrade: error:' <<<"$doctor")" = 1 ] || fail "doctor's failure is not one error line"

[ "$(inside stat -c '%a %U' /etc/mupgrade /var/lib/mupgrade | tr '\n' ' ')" = "750 root 750 root " ] || fail "modes: $(inside stat -c '%n %a %U' /etc/mupgrade /var/lib/mupgrade)"
inside sh -c 'zcat /usr/share/man/man8/mupgrade.8.gz | head -1' | grep -q '^\.TH MUPGRADE 8' || fail "mupgrade.8 is not a manual page"
inside touch /etc/mupgrade/alpha.yml /etc/mupgrade/beta.yml
words=$(inside bash -c '. /usr/share/bash-completion/completions/mupgrade; COMP_WORDS=(mupgrade plan --site ""); COMP_CWORD=3; _mupgrade; echo "${COMPREPLY[*]}"')
[ "$words" = "alpha beta" ] || fail "completion of --site gave '$words'"

# A site's config and state survive remove and purge; the binary does not.
inside sh -c 'mkdir -p /var/lib/mupgrade/alpha/journal && echo j > /var/lib/mupgrade/alpha/journal/x.jsonl && echo "site: alpha" > /etc/mupgrade/alpha.yml'
inside sh -c 'DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq mupgrade' >/dev/null 2>&1 || fail "apt-get remove failed"
inside test ! -e /usr/bin/mupgrade || fail "the binary is still there after remove"
inside sh -c 'grep -qx j /var/lib/mupgrade/alpha/journal/x.jsonl && grep -qx "site: alpha" /etc/mupgrade/alpha.yml' || fail "remove touched site data"
inside dpkg --purge mupgrade >/dev/null 2>&1 || fail "dpkg --purge failed"
inside sh -c 'grep -qx j /var/lib/mupgrade/alpha/journal/x.jsonl && grep -qx "site: alpha" /etc/mupgrade/alpha.yml' || fail "purge touched site data"
t3=$(date +%s.%N)
printf 'package ok: cpack+checks %.1f s, apt-get install %.1f s, whole test %.1f s\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)" "$(echo "$t3 - $t0" | bc)"
