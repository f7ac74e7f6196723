#!/usr/bin/env bash
# Data services, measured against private servers this script starts and stops:
#   1. `git agent add` with a Postgres template of about 50 MB (pgbench -i -s 3), against
#      `createdb` + `pg_dump template | psql` (what a per-slot copy costs without TEMPLATE);
#   2. `git agent rm` of a slot with 100,000 Redis keys (SCAN + UNLINK in batches), against
#      KEYS + DEL, with the worst delay a second client pinging in a loop saw meanwhile.
# Prints one JSON line per case ({"row","case","ours_ms","peer","peer_ms","target","ok","note"},
# as bench/run reads them) and a readable summary on stderr.
# Env: GIT_AGENT_BIN (default: target/release/git-agent, built if missing), BENCH_WORK (a work
# dir, default a temp dir), BENCH_QUICK=1 (one round instead of three).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${GIT_AGENT_BIN:-$ROOT/target/release/git-agent}
if [ ! -x "$BIN" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
fi
ROUNDS=3
[ -n "${BENCH_QUICK:-}" ] && ROUNDS=1
WORK=${BENCH_WORK:-$(mktemp -d /tmp/ga-bench-data.XXXXXX)}
mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
export HOME=$WORK/home XDG_STATE_HOME=$WORK/state XDG_CONFIG_HOME=$WORK/config GIT_CONFIG_GLOBAL=$WORK/gitconfig GIT_CONFIG_NOSYSTEM=1
mkdir -p "$HOME" "$XDG_STATE_HOME" "$XDG_CONFIG_HOME"
printf '[user]\n\tname = Bench\n\temail = bench@example.com\n[init]\n\tdefaultBranch = main\n' >"$GIT_CONFIG_GLOBAL"
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGSERVICE PGOPTIONS REDIS_URL NEON_API_KEY

say() { printf 'bench/data: %s\n' "$*" >&2; }
now_ms() { python3 -c 'import time; print(time.monotonic_ns() // 1000000)'; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
median() { python3 -c 'import statistics, sys; print(round(statistics.median(float(x) for x in sys.argv[1:]), 1))' "$@"; }
json() { python3 -c 'import json, sys; print(json.dumps(json.loads(sys.argv[1])))' "$1"; }

PG_DIR=$WORK/pg
REDIS_PID=
cleanup() {
  if [ -d "$PG_DIR/data" ]; then as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------------------- Postgres
# shellcheck disable=SC2012 # version directories have plain names
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$PGBIN" ] || PGBIN=$(pg_config --bindir)
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
rm -rf "$PG_DIR" && mkdir -p "$PG_DIR"
[ "$(id -u)" = 0 ] && chown postgres: "$PG_DIR" && chmod 755 "$WORK"
PGPORT_BENCH=$(free_port)
as_pg "$PGBIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
# Durable settings (fsync on), as on a developer's machine.
as_pg "$PGBIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
  -o "-p $PGPORT_BENCH -k $PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PGPORT_BENCH PGUSER=postgres
createdb myapp_dev
"$PGBIN/pgbench" -q -i -s 3 myapp_dev >/dev/null 2>&1
psql -X -q -d myapp_dev -c 'vacuum analyze' >/dev/null
TPL_MB=$(psql -X -At -d postgres -c "select round(pg_database_size('myapp_dev') / 1048576.0)")
PG_VERSION=$(psql -X -At -d postgres -c 'show server_version')
psql -X -q -d postgres -c 'alter database myapp_dev with allow_connections false' >/dev/null
say "Postgres $PG_VERSION on port $PGPORT_BENCH, template myapp_dev = ${TPL_MB} MB"

REPO=$WORK/myapp
rm -rf "$REPO" "$WORK/myapp-worktrees" && mkdir -p "$REPO"
git -C "$REPO" init -q -b main
printf '[database]\nengine = "postgres"\ntemplate = "myapp_dev"\n' >"$REPO/.git-agent.toml"
git -C "$REPO" add .git-agent.toml && git -C "$REPO" commit -q -m init

ours=() peer=()
for i in $(seq 1 "$ROUNDS"); do
  # Alternating rounds, so drift on a shared machine hits both sides alike.
  t0=$(now_ms)
  (cd "$REPO" && "$BIN" add "bench/pg$i" >/dev/null 2>"$WORK/add.err") || { cat "$WORK/add.err" >&2; exit 1; }
  t1=$(now_ms)
  ours+=($((t1 - t0)))
  psql -X -q -d postgres -c 'alter database myapp_dev with allow_connections true' >/dev/null
  t0=$(now_ms)
  createdb "peer_$i"
  "$PGBIN/pg_dump" -d myapp_dev | psql -X -q -d "peer_$i" >/dev/null
  t1=$(now_ms)
  peer+=($((t1 - t0)))
  psql -X -q -d postgres -c 'alter database myapp_dev with allow_connections false' >/dev/null
done
# shellcheck disable=SC2016 # expanded by the slot's shell, with the slot's env
rows_ok=$(cd "$REPO" && "$BIN" exec bench-pg1 -- sh -c 'psql -X -At -d "$DATABASE_URL" -c "select count(*) from pgbench_accounts"')
ADD_MS=$(median "${ours[@]}")
DUMP_MS=$(median "${peer[@]}")
say "add with a ${TPL_MB} MB template: ${ours[*]} ms (median $ADD_MS); createdb + pg_dump | psql: ${peer[*]} ms (median $DUMP_MS); slot sees $rows_ok accounts"
rm_times=()
for i in $(seq 1 "$ROUNDS"); do
  t0=$(now_ms)
  (cd "$REPO" && "$BIN" rm --force "bench-pg$i" >/dev/null 2>&1)
  t1=$(now_ms)
  rm_times+=($((t1 - t0)))
  dropdb "peer_$i"
done
RM_PG_MS=$(median "${rm_times[@]}")
ok=$(python3 -c "print('true' if $ADD_MS < $DUMP_MS and $rows_ok == 300000 else 'false')")
json "{\"row\": \"data\", \"case\": \"add, Postgres template ${TPL_MB} MB (PG $PG_VERSION)\", \"ours_ms\": $ADD_MS, \"peer\": \"createdb + pg_dump | psql\", \"peer_ms\": $DUMP_MS, \"target\": \"faster than a dump\", \"ok\": $ok, \"note\": \"median of $ROUNDS; rm (DROP ... WITH (FORCE)) $RM_PG_MS ms\"}"

# ------------------------------------------------------------------------------- Redis
REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >/dev/null 2>&1 &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
cat >"$REPO/.git-agent.toml" <<EOF
[database]
engine = "none"
[redis]
url = "redis://127.0.0.1:$REDIS_PORT/0"
EOF

# 100,000 keys of the slot (90k strings, 5k hashes of 10 fields, 5k lists of 10 items) among
# 100,000 keys of another slot.
fill() {
  redis-cli -p "$REDIS_PORT" EVAL "
    local p = ARGV[1]
    for i = 1, 90000 do redis.call('SET', p .. 's' .. i, string.rep('x', 64)) end
    for i = 1, 5000 do
      redis.call('HSET', p .. 'h' .. i, 'f1', 1, 'f2', 2, 'f3', 3, 'f4', 4, 'f5', 5, 'f6', 6, 'f7', 7, 'f8', 8, 'f9', 9, 'f10', 10)
      redis.call('RPUSH', p .. 'l' .. i, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    end
    return redis.call('DBSIZE')" 0 "$1" >/dev/null
}
fill "other:slot:"

# A second client: PING in a loop (about every millisecond) until told to stop; prints the
# worst round trip in ms and how many pings it made.
PINGER=$WORK/pinger.py
cat >"$PINGER" <<'EOF'
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
worst, n = 0.0, 0
while not os.path.exists(stop):
    t = time.monotonic()
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    buf = b""
    while not buf.endswith(b"\r\n"):
        buf += s.recv(64)
    worst = max(worst, (time.monotonic() - t) * 1000)
    n += 1
    time.sleep(0.001)
print(f"{worst:.1f} {n}")
EOF
KEYSDEL=$WORK/keysdel.py
cat >"$KEYSDEL" <<'EOF'
import socket, sys
port, prefix = int(sys.argv[1]), sys.argv[2].encode()
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
def cmd(*args):
    out = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
    s.sendall(out)
    return read()
def read():
    line = f.readline()[:-2]
    t, rest = line[:1], line[1:]
    if t == b"*":
        return [read() for _ in range(int(rest))]
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    return rest
keys = cmd(b"KEYS", prefix + b"*")
if keys:
    cmd(b"DEL", *keys)
EOF

with_pinger() {  # runs "$@" while the pinger runs; sets ELAPSED_MS and WORST_MS
  rm -f "$WORK/stop"
  python3 "$PINGER" "$REDIS_PORT" "$WORK/stop" >"$WORK/ping.out" &
  local pinger=$!
  sleep 0.3
  local t0 t1
  t0=$(now_ms)
  "$@"
  t1=$(now_ms)
  sleep 0.1
  touch "$WORK/stop"
  wait "$pinger"
  ELAPSED_MS=$((t1 - t0))
  WORST_MS=$(cut -d' ' -f1 "$WORK/ping.out")
}

ours=() ours_worst=() peer=() peer_worst=()
for i in $(seq 1 "$ROUNDS"); do
  (cd "$REPO" && "$BIN" add "cache$i" >/dev/null 2>&1)
  prefix=$(cd "$REPO" && "$BIN" env "cache$i" --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["redis_prefix"])')
  fill "$prefix"
  before=$(redis-cli -p "$REDIS_PORT" dbsize)
  with_pinger sh -c "cd '$REPO' && '$BIN' rm --force cache$i >/dev/null 2>'$WORK/rm.err'"
  after=$(redis-cli -p "$REDIS_PORT" dbsize)
  [ $((before - after)) = 100000 ] || { say "rm deleted $((before - after)) keys, expected 100000"; cat "$WORK/rm.err" >&2; exit 1; }
  ours+=("$ELAPSED_MS") ours_worst+=("$WORST_MS")

  fill "peer:cache$i:"
  with_pinger python3 "$KEYSDEL" "$REDIS_PORT" "peer:cache$i:"
  peer+=("$ELAPSED_MS") peer_worst+=("$WORST_MS")
done
[ "$(redis-cli -p "$REDIS_PORT" dbsize)" = 100000 ] || { say "the other slot's keys were touched"; exit 1; }
RM_MS=$(median "${ours[@]}")
KD_MS=$(median "${peer[@]}")
WORST=$(python3 -c 'import sys; print(max(float(x) for x in sys.argv[1:]))' "${ours_worst[@]}")
KD_WORST=$(python3 -c 'import sys; print(max(float(x) for x in sys.argv[1:]))' "${peer_worst[@]}")
say "rm of 100,000 Redis keys (among 200,000): ${ours[*]} ms (median $RM_MS), worst PING ${ours_worst[*]} ms; KEYS + DEL: ${peer[*]} ms (median $KD_MS), worst PING ${peer_worst[*]} ms"
ok=$(python3 -c "print('true' if $WORST < 20 else 'false')")
json "{\"row\": \"data\", \"case\": \"rm, 100k Redis keys among 200k (SCAN + UNLINK)\", \"ours_ms\": $RM_MS, \"peer\": \"KEYS + DEL\", \"peer_ms\": $KD_MS, \"target\": \"-\", \"ok\": true, \"note\": \"whole git agent rm, median of $ROUNDS\"}"
json "{\"row\": \"data\", \"case\": \"worst delay another Redis client saw during that rm\", \"ours_ms\": $WORST, \"peer\": \"KEYS + DEL\", \"peer_ms\": $KD_WORST, \"target\": \"< 20 ms\", \"ok\": $ok, \"note\": \"a client sending PING about every ms; worst of $ROUNDS\"}"
