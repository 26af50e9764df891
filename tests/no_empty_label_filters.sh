#!/usr/bin/env bash
# Fails when a test or script source filters Docker objects by an empty mupgrade.* label.
# Docker reads `label=mupgrade.site` (no value) as "any value": a clean-up run with an empty
# site name once removed the live containers of every mupgrade site on the host.
#   usage: no_empty_label_filters.sh SOURCE_DIR
# A line that passes an empty label on purpose (a test of the refusal) ends its line with the
# marker comment `expect-refused`.
set -uo pipefail
src=${1:?usage: no_empty_label_filters.sh SOURCE_DIR}
self=$(basename "$0")

# Extended regexps, one per hazard.
patterns=(
  # A label map entry with an empty value: {"mupgrade.site", ""}, {"mupgrade.set", std::string()}.
  '"mupgrade\.[a-z_]+"[[:space:]]*,[[:space:]]*(""|\{\}|std::string\(\)|std::string\{\})'
  # A filter string that ends right after the '=' or is concatenated there:
  # "label=mupgrade.site=", "label=mupgrade.site=" + site, '--filter label=mupgrade.site='.
  'label=mupgrade\.[a-z_]+=([]"'\''[:space:])`;|]|$)'
  # A filter completed by a shell variable that may be empty (${site:?} is fine).
  'label=mupgrade\.[a-z_]+=\$([A-Za-z_]|\{[A-Za-z_][A-Za-z0-9_]*([^A-Za-z0-9_:]|:[^?]))'
)

# The patterns must catch what they are for: a regexp that matches nothing guards nothing.
must_catch=(
  'engine().list_containers({{"mupgrade.site", ""}});'
  'spec.labels = {{"mupgrade.site", std::string()}};'
  'sh("for n in $(docker network ls -q --filter label=mupgrade.site=" + site + "); do"'
  "docker ps -aq --filter 'label=mupgrade.site='"
  'docker ps -aq --filter label=mupgrade.set='
  'docker network ls -q --filter label=mupgrade.site=$site'
  'docker network ls -q --filter label=mupgrade.site=${site}'
)
must_pass=(
  'engine().list_containers({{"mupgrade.site", site}});'
  'docker ps -aq --filter label=mupgrade.site=mupt-s-1-abcdef'
  'docker network ls -q --filter label=mupgrade.site=${site:?}'
  'docker ps -aq --filter label=mupgrade.site | while read -r id; do'
)
status=0
for line in "${must_catch[@]}"; do
  caught=0
  for p in "${patterns[@]}"; do printf '%s\n' "$line" | grep -qE -- "$p" && caught=1; done
  [ "$caught" = 1 ] || { echo "self-check: no pattern catches: $line"; status=1; }
done
for line in "${must_pass[@]}"; do
  for p in "${patterns[@]}"; do
    printf '%s\n' "$line" | grep -qE -- "$p" && { echo "self-check: pattern '$p' wrongly catches: $line"; status=1; }
  done
done

for dir in tests scripts; do
  [ -d "$src/$dir" ] || { echo "missing $src/$dir"; status=1; continue; }
done
for p in "${patterns[@]}"; do
  hits=$(grep -rnE --binary-files=without-match --exclude="$self" -- "$p" "$src/tests" "$src/scripts" | grep -v 'expect-refused')
  if [ -n "$hits" ]; then
    echo "Docker objects filtered or labelled by an empty mupgrade.* label (Docker widens that to any value):"
    echo "$hits"
    status=1
  fi
done
[ "$status" = 0 ] && echo "no empty mupgrade.* label filters in $src/tests and $src/scripts"
exit "$status"
