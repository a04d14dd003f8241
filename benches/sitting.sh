#!/usr/bin/env bash
# One measurement sitting: chatcore and its peers (core NATS, mosquitto QoS 1 and
# 0, NATS JetStream), one after the other on this machine, every workload of the
# README's Performance table as a median of 3 runs.
#
#   benches/sitting.sh             # everything (about 10 minutes)
#   SKIP_PEERS=1 benches/sitting.sh  # chatcore only
#
# Needs: the Rust toolchain; for the peers `nats-server` and `mosquitto` on PATH
# (Debian: `apt-get install nats-server mosquitto`) and `../shared/peers` beside
# the repository (its load generator is built here into target/peers). A peer
# that is missing is skipped with a note. Every line the load generators print
# goes to target/sitting-TIME.log; the median lines also to stdout.
# All traffic is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PEERS=${PEERS:-$REPO/../shared/peers}
LOG=$REPO/target/sitting-$(date +%Y%m%d-%H%M%S).log
RUNS=${RUNS:-3}
mkdir -p target

PIDS=()
DIRS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for dir in "${DIRS[@]}"; do rm -rf "$dir"; done
}
trap cleanup EXIT

section() {
    echo "### $* ($(date +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$LOG"
}
# Runs a load generator; every line goes to the log, the median line (with one
# run, the run's line; the single-run workloads' always) to stdout too.
if [ "$RUNS" = 1 ]; then
    SHOW='^(run=[0-9]+ )?target='
else
    SHOW='^median|^target=.*workload=(inproc-sessions|connections)'
fi
measure() {
    echo "\$ $*" >>"$LOG"
    "$@" 2>&1 | tee -a "$LOG" | grep -E "$SHOW" || true
}
start() { # start NAME COMMAND...: runs it in the background, PID in $PID
    "${@:2}" >>"$LOG.$1" 2>&1 &
    PID=$!
    PIDS+=("$PID")
    sleep 1
    kill -0 "$PID" 2>/dev/null || { echo "$1 did not start: see $LOG.$1" >&2; exit 1; }
}
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
fresh_dir() {
    DIR=$(mktemp -d)
    DIRS+=("$DIR")
}

cargo build --release --quiet -p chatcore-examples -p chatcore-benches
LG=target/release/loadgen
source benches/server-flags.sh
# Idle sessions: 19 000, or fewer where the open-file hard limit (which the load
# generator raises its soft limit to) leaves less room.
HARD=$(ulimit -Hn)
[ "$HARD" = unlimited ] && HARD=1000000
CONNS=${CONNS:-$(( HARD > 20000 ? 19000 : HARD - 1000 ))}

section "chatcore, redb + log (default store): relay, window 1, one pair, fanout, login storm"
fresh_dir
start chatcore target/release/chat-server --store redb --data-dir "$DIR" "${SERVER_FLAGS[@]}"
CS=$PID
measure $LG --workload relay --server-pid $CS --runs $RUNS
measure $LG --workload relay --window 1 --msgs 400 --server-pid $CS --runs $RUNS
measure $LG --workload relay --pairs 1 --window 1 --msgs 2000 --server-pid $CS --runs $RUNS
measure $LG --workload fanout --server-pid $CS --runs $RUNS
measure $LG --workload login-storm --server-pid $CS --runs $RUNS
stop $CS

section "chatcore, in-memory store (nothing on disk): relay"
start chatcore-memory target/release/chat-server --store memory "${SERVER_FLAGS[@]}"
measure $LG --workload relay --server-pid $PID --runs $RUNS
stop $PID

section "chatcore: idle sessions in one process, past the open-file limit (memory transport)"
for n in 19000 100000; do
    measure target/release/inproc-sessions --sessions "$n"
done

section "chatcore: idle sessions (fresh server each, cheap argon2 to provision fast)"
for n in 5000 10000 "$CONNS"; do
    fresh_dir
    start chatcore-idle target/release/chat-server --store redb --data-dir "$DIR" "${SERVER_FLAGS[@]}" \
        --argon2-memory-kib 8 --argon2-iterations 1
    measure $LG --workload connections --conns "$n" --server-pid $PID --max-secs 120
    stop $PID
done

[ -n "${SKIP_PEERS:-}" ] && exit 0
if [ ! -d "$PEERS/loadgen" ]; then
    echo "peers skipped: no $PEERS/loadgen" | tee -a "$LOG"
    exit 0
fi
CARGO_TARGET_DIR=$REPO/target/peers cargo build --release --quiet --manifest-path "$PEERS/loadgen/Cargo.toml"
PEER=$REPO/target/peers/release/loadgen

if command -v nats-server >/dev/null; then
    section "core NATS"
    start nats nats-server -a 127.0.0.1 -p 4222
    N=$PID
    measure $PEER --target nats --broker-pid $N --runs $RUNS
    measure $PEER --target nats --window 1 --msgs 400 --broker-pid $N --runs $RUNS
    measure $PEER --target nats --pairs 1 --window 1 --msgs 2000 --broker-pid $N --runs $RUNS
    measure $PEER --target nats --workload fanout --broker-pid $N --runs $RUNS
    python3 "$PEERS/idle_mem.py" nats 4222 $N "$CONNS" 2>&1 | tail -1 | tee -a "$LOG" || true
    stop $N

    section "NATS JetStream, file store"
    fresh_dir
    start jetstream nats-server -js -a 127.0.0.1 -p 4223 -sd "$DIR"
    JS=$PID
    measure $PEER --target jetstream --port 4223 --broker-pid $JS --runs $RUNS
    measure $PEER --target jetstream --port 4223 --window 1 --msgs 400 --broker-pid $JS --runs $RUNS
    measure $PEER --target jetstream --port 4223 --pairs 1 --window 1 --msgs 2000 --broker-pid $JS --runs $RUNS
    measure $PEER --target jetstream --port 4223 --workload fanout --broker-pid $JS --runs $RUNS
    stop $JS
else
    echo "core NATS and JetStream skipped: nats-server is not installed" | tee -a "$LOG"
fi

if command -v mosquitto >/dev/null; then
    section "mosquitto (persistence off)"
    fresh_dir
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' >"$DIR/m.conf"
    start mosquitto mosquitto -c "$DIR/m.conf"
    M=$PID
    measure $PEER --target mqtt --qos 1 --broker-pid $M --runs $RUNS
    measure $PEER --target mqtt --qos 1 --window 1 --msgs 400 --broker-pid $M --runs $RUNS
    measure $PEER --target mqtt --qos 1 --pairs 1 --window 1 --msgs 2000 --broker-pid $M --runs $RUNS
    measure $PEER --target mqtt --qos 1 --workload fanout --broker-pid $M --runs $RUNS
    measure $PEER --target mqtt --qos 0 --broker-pid $M --runs $RUNS
    measure $PEER --target mqtt --qos 0 --workload fanout --broker-pid $M --runs $RUNS
    python3 "$PEERS/idle_mem.py" mqtt 1883 $M "$CONNS" 2>&1 | tail -1 | tee -a "$LOG" || true
    stop $M
else
    echo "mosquitto skipped: it is not installed" | tee -a "$LOG"
fi
section done
echo "full output: $LOG"
