# Helpers shared by scripts/bench and scripts/bench.d/real-code (sourced; they use $STATE,
# $HOST and $PORT of the site being measured).
median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "null"; else if (NR%2) print a[(NR+1)/2]+0; else print (a[NR/2]+a[NR/2+1])/2}'; }
epoch() { date -d "$1" +%s.%N; }
journal() { cat "$STATE/journal/last"; }
events() { tail -n +2 "$1"; }  # the journal's first line is its version header
step_s() { events "$1" | jq -r --arg s "$2" 'select(.event=="end" and .step==$s) | .seconds' | tail -1; }
# The window of a cutover's journal: the seconds of its steps from maintenance-on to switch-proxy.
window_of() {
  jq -rs '[.[] | select(.event=="end")] as $e | ($e | map(.step) | index("maintenance-on")) as $a | ($e | map(.step) | index("switch-proxy")) as $b | [$e[$a:$b+1][].seconds] | add' <(events "$1")
}
# A rollback's seconds from the command's start to the end of its confirmed switch.
rollback_s() {
  local t0 t1
  t0=$(events "$1" | jq -r 'select(.event=="operation-begin") | .at'); t1=$(events "$1" | jq -r 'select(.event=="end" and .step=="switch-proxy") | .at')
  echo "$(epoch "$t1") - $(epoch "$t0")" | bc -l
}
# load OUT RATE [PATH]: wrk through the proxy in the background (RATE req/s, 0 = flat out); PID in $w.
load() {
  local wait_ms=0
  [ "$2" -gt 0 ] && wait_ms=$(( 8 * 1000 / $2 ))
  wrk -t2 -c8 -d1800s -s scripts/bench.d/count.lua -H "Host: $HOST" "http://127.0.0.1:$PORT${3:-/local/standin/healthz.php}" -- "$wait_ms" >"$1" 2>&1 &
  w=$!
}
reqs_per_s() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$1"; }
lat() { sed -n 's/.*p50_ms=\([0-9.]*\) p99_ms=\([0-9.]*\).*/\1 \2/p' "$1"; }
# Failed requests of a wrk run: anything but 2xx and the deliberate 503, connection errors included.
failed() {
  sed -n 's/.*bad_status=\([0-9]*\) connect=\([0-9]*\) read=\([0-9]*\) write=\([0-9]*\) timeout=\([0-9]*\).*/\1 \2 \3 \4 \5/p' "$1" | awk '{print $1+$2+$3+$4+$5}'
}
