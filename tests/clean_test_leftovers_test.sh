#!/usr/bin/env bash
# scripts/clean-test-leftovers against stand-ins for docker and btrfs (no daemon, no pool):
# it refuses a missing, empty, relative or / pool before it asks anything, and removes only
# objects named by a test (mupt-<what>-<pid>-<6 hex>) whose creating PID is gone, never a
# live test's objects or those of a real site, whatever their labels.
#   usage: clean_test_leftovers_test.sh SOURCE_DIR
set -uo pipefail
src=${1:?usage: clean_test_leftovers_test.sh SOURCE_DIR}
script=$src/scripts/clean-test-leftovers
work=$(mktemp -d /tmp/mupgrade-clean-test.XXXXXX)
trap 'rm -rf -- "$work"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# A PID that is not running (beyond pid_max) and one that is (this shell).
dead=99999999
[ -e /proc/$dead ] && { echo "PID $dead exists?"; exit 1; }
live=$$

mkdir -p "$work/bin" "$work/pool" "$work/tmp"
log=$work/calls
: >"$log"
# The stand-in docker answers the listings from files and logs every call.
cat >"$work/bin/docker" <<EOF
#!/usr/bin/env bash
echo "docker \$*" >>"$log"
case "\$*" in
  "ps -a --filter label=mupgrade.test=1 "*) cat "$work/ps-test" ;;
  "network ls --filter label=mupgrade.test=1 "*) cat "$work/net-test" ;;
  "ps -a --filter label=mupgrade.site "*) cat "$work/ps-site" ;;
  "network ls --filter label=mupgrade.site "*) cat "$work/net-site" ;;
  "rm -f "*|"network rm "*) ;;
  *) echo "unexpected docker call: \$*" >&2; exit 1 ;;
esac
EOF
cat >"$work/bin/btrfs" <<EOF
#!/usr/bin/env bash
echo "btrfs \$*" >>"$log"
exit 1  # not a subvolume: the script falls back to rm -rf
EOF
chmod +x "$work/bin/docker" "$work/bin/btrfs"
export PATH="$work/bin:$PATH" MUPGRADE_CLEAN_TMPDIR="$work/tmp"

# Refusals: nothing is asked of docker or btrfs.
for bad in "" "/" "//" "relative/pool" "$work/missing"; do
  out=$(bash "$script" "$bad" 2>&1)
  rc=$?
  [ "$rc" = 2 ] || fail "pool '$bad': exit $rc, expected 2 ($out)"
  [ -s "$log" ] && fail "pool '$bad': calls were made: $(cat "$log")"
  : >"$log"
done
out=$(bash "$script" 2>&1) && fail "no pool argument accepted ($out)"
[ -s "$log" ] && fail "no pool argument: calls were made: $(cat "$log")"

# Objects of a dead test, a live test, real sites, and look-alikes.
cat >"$work/ps-test" <<EOF
c1|mupt-sleep-$dead-0a1b2c
c2|mupt-sleep-$live-0a1b2c
c3|production-db
c4|mupt-sleep-$dead-XYZ123
c5|mupt-sleep--0a1b2c
EOF
cat >"$work/net-test" <<EOF
n1|mupt-net-$dead-abcdef
n2|mupt-net-$live-abcdef
n3|mupgrade-prod
EOF
cat >"$work/ps-site" <<EOF
s1|mupt-s-$dead-abcdef|mupgrade-mupt-s-$dead-abcdef-blue-4.4.1-db
s2|mupt-s-$dead-abcdef|mupgrade-mupt-s-$dead-abcdef-proxy
s3|mupt-s-$live-abcdef|mupgrade-mupt-s-$live-abcdef-proxy
s4|prod|mupgrade-prod-blue-db
s5||mupgrade-prod-blue-web
s6|mupt-s-$dead-abcdef|mupgrade-prod-blue-web
s7|mupt-s-$dead-abcdef|mupgrade-mupt-s-$dead-abcdefx-web
EOF
cat >"$work/net-site" <<EOF
m1|mupt-s-$dead-abcdef|mupgrade-mupt-s-$dead-abcdef
m2|prod|mupgrade-prod
m3||mupgrade-other
EOF
mkdir -p "$work/pool/mupt-code-$dead-abcdef" "$work/pool/mupt-src-$dead-abcdef-rw/dir" "$work/pool/mupt-s-$dead-abcdef/sets" \
  "$work/pool/mupt-code-$live-abcdef" "$work/pool/prod" "$work/pool/mupt-code-$dead-abc" "$work/pool/mupt-Code-$dead-abcdef" \
  "$work/tmp/mupgrade-itest-$dead" "$work/tmp/mupgrade-itest-$live" "$work/tmp/mupgrade-itest-abc" "$work/elsewhere"
ln -s "$work/elsewhere" "$work/pool/mupt-link-$dead-abcdef"

bash "$script" --dry-run "$work/pool/" >"$work/dry" 2>&1 || fail "--dry-run failed: $(cat "$work/dry")"
grep -E '^docker (rm|network rm)' "$log" && fail "--dry-run removed containers or networks"
grep -q '^btrfs' "$log" && fail "--dry-run ran btrfs"
[ -d "$work/pool/mupt-code-$dead-abcdef" ] || fail "--dry-run removed a subvolume"
grep -q "would remove: $work/pool/mupt-code-$dead-abcdef" "$work/dry" || fail "--dry-run did not name the dead test's subvolume: $(cat "$work/dry")"
: >"$log"

bash "$script" "$work/pool" >"$work/real" 2>&1 || fail "the run failed: $(cat "$work/real")"
removed=$(grep -E '^docker (rm -f|network rm) ' "$log" | sed -E 's/^docker (rm -f|network rm) //' | sort | tr '\n' ' ')
[ "$removed" = "c1 m1 n1 s1 s2 " ] || fail "removed '$removed', expected 'c1 m1 n1 s1 s2 ' (calls: $(cat "$log"))"
for gone in "pool/mupt-code-$dead-abcdef" "pool/mupt-src-$dead-abcdef-rw" "pool/mupt-s-$dead-abcdef" "tmp/mupgrade-itest-$dead"; do
  [ -e "$work/$gone" ] && fail "$gone was left"
done
for kept in "pool/mupt-code-$live-abcdef" "pool/prod" "pool/mupt-code-$dead-abc" "pool/mupt-Code-$dead-abcdef" \
  "pool/mupt-link-$dead-abcdef" "elsewhere" "tmp/mupgrade-itest-$live" "tmp/mupgrade-itest-abc"; do
  [ -e "$work/$kept" ] || fail "$kept was removed"
done

[ "$failures" = 0 ] && echo "clean-test-leftovers: refusals and removals as meant"
exit $((failures > 0))
