#!/usr/bin/env bash
# The manual pages and the completion cannot drift: mupgrade(8) names every command and every
# option `--help` shows; mupgrade.yml(5) names every key src/config/load.cpp reads; both render
# without groff warnings; the completion offers commands, flags and the sites in the config dir;
# --version names the build.
set -euo pipefail
bin=$1 src=$2
tmp=$(mktemp -d /tmp/mupgrade-docs-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "docs test: $*" >&2; exit 1; }
"$bin" man mupgrade.8 > "$tmp/mupgrade.8"
"$bin" man mupgrade.yml.5 > "$tmp/mupgrade.yml.5"
"$bin" man bash-completion > "$tmp/completion"

# mupgrade(8) against --help, command by command (proxy's subcommand too).
commands=$("$bin" --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR>1 && NF {print $1}')
[ -n "$commands" ] || fail "no commands in --help"
grep -q '^man$' <<<"$commands" && fail "the hidden 'man' command shows in --help"
for c in $commands; do
  sub=$c
  [ "$c" = proxy ] && sub="proxy init"
  grep -qF ".SS \"$sub\"" "$tmp/mupgrade.8" || fail "mupgrade.8 has no section for '$sub'"
  # shellcheck disable=SC2086
  for opt in $("$bin" $sub --help | grep -oE '^ +--[a-z-]+' | tr -d ' ' | grep -vx -- --help); do
    esc=${opt//-/\\-}
    awk -v s=".SS \"$sub\"" '$0==s{on=1;next} /^\.SS/{on=0} on' "$tmp/mupgrade.8" | grep -qF "\\fB$esc\\fR" \
      || fail "mupgrade.8 does not document $sub $opt"
  done
done
for code in 0 1 2 3; do grep -qx ".B $code" "$tmp/mupgrade.8" || fail "mupgrade.8 lacks exit code $code"; done

# mupgrade.yml(5) against the loader: every key it reads by name.
keys=$(grep -oE '(str|integer|boolean|map)\([a-z]+, "[a-z_]+"|[a-z]+\["[a-z_]+"\]' "$src/src/config/load.cpp" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
[ "$(wc -l <<<"$keys")" -ge 40 ] || fail "found only $(wc -l <<<"$keys") keys in load.cpp: the pattern no longer matches it"
for k in $keys; do
  esc=${k//-/\\-}
  grep -qF "\\fB$esc\\fR (" "$tmp/mupgrade.yml.5" || fail "mupgrade.yml.5 does not document the key '$k' the loader reads"
done

for page in mupgrade.8 mupgrade.yml.5; do
  warnings=$(groff -man -Tutf8 -ww -z "$tmp/$page" 2>&1)
  [ -z "$warnings" ] || fail "$page: $warnings"
done

# Completion: commands, flags of a command, proxy's subcommand, site names.
mkdir -p "$tmp/etc"
touch "$tmp/etc/alpha.yml" "$tmp/etc/beta.yml"
complete_words() { MUPGRADE_CONFIG_DIR="$tmp/etc" bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mupgrade; echo "${COMPREPLY[*]}"' _ "$tmp/completion" "$@"; }
[ "$(complete_words mupgrade cu)" = cutover ] || fail "mupgrade cu<TAB>: $(complete_words mupgrade cu)"
[ "$(complete_words mupgrade ma)" = "" ] || fail "the hidden 'man' command completes"
[ "$(complete_words mupgrade u)" = up ] || fail "mupgrade u<TAB>: $(complete_words mupgrade u)"
[ "$(complete_words mupgrade cutover --d)" = "--docker-socket --dry-run" ] || fail "cutover --d<TAB>: $(complete_words mupgrade cutover --d)"
[ "$(complete_words mupgrade proxy "")" = "init --help" ] || fail "proxy <TAB>: $(complete_words mupgrade proxy "")"
[ "$(complete_words mupgrade proxy init --k)" = "--kind" ] || fail "proxy init --k<TAB>: $(complete_words mupgrade proxy init --k)"
[ "$(complete_words mupgrade rehearse --site "")" = "alpha beta" ] || fail "--site <TAB>: $(complete_words mupgrade rehearse --site "")"
[ "$(complete_words mupgrade --ver)" = "--version" ] || fail "--ver<TAB>: $(complete_words mupgrade --ver)"

version=$("$bin" --version)
[[ $version =~ ^mupgrade\ [0-9]+\.[0-9]+\.[0-9]+\ \(build\ [0-9a-z.+-]+\)$ ]] || fail "--version: $version"
if git -C "$src" rev-parse --short HEAD >/dev/null 2>&1; then
  [[ $version == *"$(git -C "$src" rev-parse --short=7 HEAD | cut -c1-7)"* ]] || echo "note: --version ($version) was configured at another commit than HEAD"
fi
echo "docs ok"
