#!/usr/bin/env bash
# Where a relay's server CPU goes, by thread: a fresh `chat-server` (redb + log
# in a temporary directory, the sitting's flags, cheap argon2 so that logging
# in costs little), `loadgen --workload relay --runs 3`, then the server's CPU
# time over those three runs per thread name (clock ticks, from
# /proc/PID/task/*/stat; setup included: registering, logging in, befriending).
#
#   benches/threads.sh [SERVER_BINARY [LOADGEN_ARGS...]]
#   benches/threads.sh target/release/chat-server --random-ids
#
# Alternate two builds (A B A B ...) to compare them: figures drift between
# runs on a shared machine. All traffic is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
SERVER=${1:-target/release/chat-server}
shift || true
LG=target/release/loadgen
[ -x "$SERVER" ] && [ -x "$LG" ] || cargo build --release --quiet -p chatcore-examples -p chatcore-benches
source benches/server-flags.sh
DIR=$(mktemp -d)
"$SERVER" --store redb --data-dir "$DIR" "${SERVER_FLAGS[@]}" --argon2-memory-kib 8 \
    --argon2-iterations 1 >"$DIR.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DIR" "$DIR.log"' EXIT
sleep 1
ticks() {
    for task in /proc/$PID/task/*; do
        echo "$(cat "$task/comm") $(awk '{print $14 + $15}' "$task/stat")"
    done | awk '{t[$1] += $2} END {for (k in t) print k, t[k]}' | sort
}
ticks >"$DIR.before"
"$LG" --workload relay --server-pid $PID --runs 3 "$@" | grep '^median'
ticks >"$DIR.after"
join "$DIR.before" "$DIR.after" | awk '{d = $3 - $2; s += d; if (d) print $1, d} END {print "total", s}'
rm -f "$DIR.before" "$DIR.after"
