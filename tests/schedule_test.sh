#!/usr/bin/env bash
# The nightly schedule: install-schedule writes the systemd units and the cron file; the units
# pass systemd-analyze verify, the timer's calendar parses, the cron line has its fields.
set -euo pipefail
src=$1 bin=$2
tmp=$(mktemp -d /tmp/mupgrade-schedule-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$src/scripts/install-schedule" demo --root "$tmp/sd" >/dev/null
"$src/scripts/install-schedule" demo --cron --root "$tmp/cr" >/dev/null
test -f "$tmp/sd/etc/systemd/system/mupgrade-rehearse@.service"
test -f "$tmp/sd/etc/systemd/system/mupgrade-rehearse@.timer"
line=$(grep -v '^#' "$tmp/cr/etc/cron.d/mupgrade-rehearse-demo" | grep 'mupgrade rehearse')
cron=$(grep -v '^#' "$tmp/cr/etc/cron.d/mupgrade-rehearse-demo" | grep 'mupgrade cron')
[[ "$cron" == '* * * * * root /usr/local/bin/mupgrade cron --site demo >/dev/null' ]] || { echo "bad cron line for Moodle's cron: $cron"; exit 1; }
[[ "$line" =~ ^[0-9*,/-]+\ [0-9*,/-]+\ [0-9*,/-]+\ [0-9*,/-]+\ [0-9*,/-]+\ root\ nice\ -n\ 10\ ionice\ -c\ 3\ /usr/local/bin/mupgrade\ rehearse\ --site\ demo ]] || { echo "bad cron line: $line"; exit 1; }
if "$src/scripts/install-schedule" 'bad site' --root "$tmp/x" 2>/dev/null; then echo "a bad site name was accepted"; exit 1; fi
# Verify the units as systemd reads them, with the binary where this build put it.
mkdir -p "$tmp/v"
sed "s|/usr/local/bin/mupgrade|$bin|g" "$tmp/sd/etc/systemd/system/mupgrade-rehearse@.service" > "$tmp/v/mupgrade-rehearse@demo.service"
sed "s|/usr/local/bin/mupgrade|$bin|g" "$tmp/sd/etc/systemd/system/mupgrade-rehearse@.timer" > "$tmp/v/mupgrade-rehearse@demo.timer"
out=$(cd "$tmp/v" && systemd-analyze verify --man=no ./mupgrade-rehearse@demo.service ./mupgrade-rehearse@demo.timer 2>&1 | grep -v -e 'docker.service' -e 'network-online' || true)
[ -z "$out" ] || { echo "systemd-analyze verify: $out"; exit 1; }
systemd-analyze calendar "$(sed -n 's/^OnCalendar=//p' "$tmp/v/mupgrade-rehearse@demo.timer")" >/dev/null
echo "schedule ok"
