#!/usr/bin/env bash
# The relay on PostgreSQL, in one sitting: one node on redb (the default
# store), one node on PostgreSQL, then three nodes on one PostgreSQL and one
# nats-server with every pair's sender and receiver on different nodes. Server
# CPU is the nodes' summed; database CPU is PostgreSQL's processes' (and
# nats-server's, for the cluster), both per million messages.
#
#   benches/cluster.sh          # about 3 minutes
#
# Needs: the Rust toolchain, PostgreSQL's initdb and postgres (Debian:
# `apt-get install postgresql`), nats-server (`apt-get install nats-server`).
# PostgreSQL runs as the `postgres` user when this runs as root, on a unix
# socket in a temp dir, durable (fsync on: chatcore-postgres commits with
# synchronous_commit on). Every line goes to target/cluster-TIME.log, the
# median lines to stdout too. All traffic is on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
LOG=$(pwd)/target/cluster-$(date +%Y%m%d-%H%M%S).log
RUNS=${RUNS:-3}
MSGS=${MSGS:-400}
mkdir -p target

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$PGBIN/initdb" ] || { echo "no PostgreSQL: apt-get install postgresql" >&2; exit 1; }
command -v nats-server >/dev/null || { echo "no nats-server: apt-get install nats-server" >&2; exit 1; }

cargo build --release -q -p chatcore-examples --bin chat-server
cargo build --release -q -p chatcore-benches --bin loadgen

TMP=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
section() {
    echo "### $* ($(date +%H:%M:%S), load $(cut -d' ' -f1 /proc/loadavg))" | tee -a "$LOG"
}
# What a load generator on one address needs (as benches/sitting.sh).
LIMITS=(--open-chat --request-rate 100000000 --request-burst 100000000 --max-connections 200000
    --max-connections-per-address 200000 --registrations-per-address 100000000
    --argon2-memory-kib 8 --argon2-iterations 1)
node() { # node NAME ARGS...: starts a chat-server, its pid in $PID
    target/release/chat-server "${LIMITS[@]}" --no-web "${@:2}" >>"$LOG.$1" 2>&1 &
    PID=$!
    PIDS+=("$PID")
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1: see $LOG.*" >&2
    exit 1
}
relay() { # relay ADDRS SERVER_PIDS [EXTRA_DB_PID]: a warm-up, then the measured runs
    target/release/loadgen --workload relay --msgs 100 --addr "$1" >>"$LOG" 2>&1
    local db=()
    if [ -n "${PGPID:-}" ]; then
        # The postmaster (its pid file's first line: as root it runs under
        # runuser) and its children, taken after the warm-up filled the
        # nodes' connection pools (one backend per pooled connection).
        local postmaster
        postmaster=$(head -n 1 "$TMP/pg/data/postmaster.pid")
        db=(--db-pid "$postmaster,$(pgrep -d, -P "$postmaster")${3:+,$3}")
    fi
    echo "\$ loadgen --workload relay --msgs $MSGS --addr $1 --runs $RUNS" >>"$LOG"
    target/release/loadgen --workload relay --msgs "$MSGS" --addr "$1" --server-pid "$2" \
        "${db[@]}" --runs "$RUNS" 2>&1 | tee -a "$LOG" | grep -E '^(median|target=)' || true
}

section "one node on redb (the default store)"
node redb --store redb --data-dir "$TMP/redb" --listen 127.0.0.1:7911
wait_port 7911
relay 127.0.0.1:7911 "$PID"
kill "$PID"

section "PostgreSQL (initdb, fsync on)"
mkdir -p "$TMP/pg"
[ "$(id -u)" = 0 ] && chown postgres: "$TMP" "$TMP/pg"
as_pg "$PGBIN/initdb" -D "$TMP/pg/data" -U postgres --auth=trust -E UTF8 >>"$LOG.pg" 2>&1
as_pg "$PGBIN/postgres" -D "$TMP/pg/data" -k "$TMP/pg" -c listen_addresses= \
    -c max_connections=300 -c shared_buffers=128MB >>"$LOG.pg" 2>&1 &
PGPID=$!
PIDS+=("$PGPID")
for _ in $(seq 100); do
    as_pg "$PGBIN/pg_isready" -q -h "$TMP/pg" && break
    sleep 0.1
done
URL="host=$TMP/pg user=postgres dbname=postgres"

section "one node on PostgreSQL"
node pg1 --store postgres --database-url "$URL" --listen 127.0.0.1:7912
wait_port 7912
relay 127.0.0.1:7912 "$PID"
kill "$PID"

section "three nodes on PostgreSQL and nats-server, every pair across two nodes"
nats-server -a 127.0.0.1 -p 4322 >>"$LOG.nats" 2>&1 &
NATS=$!
PIDS+=("$NATS")
wait_port 4322
NODES=()
ADDRS=()
for n in 1 2 3; do
    node "n$n" --store postgres --database-url "$URL" --cluster nats://127.0.0.1:4322 \
        --node-id "n$n" --listen "127.0.0.1:792$n"
    NODES+=("$PID")
    ADDRS+=("127.0.0.1:792$n")
    wait_port "792$n"
done
relay "$(IFS=,; echo "${ADDRS[*]}")" "$(IFS=,; echo "${NODES[*]}")" "$NATS"
echo "log: $LOG"
