#!/usr/bin/env bash
# The order-to-cash chain benchmark on SQLite and on PostgreSQL, then pgbench
# (default TPC-B-like script) with the same number of clients on the same
# PostgreSQL server, and a summary side by side.
#
#   scripts/bench.sh [CLIENTS]            (default 8)
#
# Environment: CHAINS (total chains per backend, default 400), PGBENCH_SECONDS
# (default 30), SALESGUARD_TEST_PG_URL (default
# postgres://postgres@127.0.0.1:5432/test), BENCH_ARGS (extra arguments for
# the chain benchmark, e.g. "--profile" or "--fields light").
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS="${1:-8}"
CHAINS="${CHAINS:-400}"
PGBENCH_SECONDS="${PGBENCH_SECONDS:-30}"
PG_URL="${SALESGUARD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
BENCH_ARGS="${BENCH_ARGS:-}"
PG=(-h 127.0.0.1 -U postgres)

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cargo-target}"
export CARGO_TERM_COLOR=never

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if ! pg_isready "${PG[@]}" -q; then
  echo "PostgreSQL is not accepting connections on 127.0.0.1:5432" >&2
  exit 1
fi

echo "== building the benchmark (release profile)"
cargo bench --bench chain --no-run

for backend in sqlite postgres; do
  echo
  echo "== chain benchmark on $backend: $CLIENTS clients, $CHAINS chains"
  # shellcheck disable=SC2086 # BENCH_ARGS is a list of words
  cargo bench --bench chain -- --backend "$backend" --clients "$CLIENTS" \
    --chains "$CHAINS" --pg-url "$PG_URL" $BENCH_ARGS | tee "$out/$backend.txt"
done

echo
echo "== pgbench: $CLIENTS clients, ${PGBENCH_SECONDS} s, scale 10, TPC-B-like"
if [ "$(psql "${PG[@]}" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'pgbench_sg'")" != "1" ]; then
  psql "${PG[@]}" -d postgres -qc "CREATE DATABASE pgbench_sg"
fi
pgbench "${PG[@]}" -i -s 10 -q pgbench_sg 2>&1 | tail -n 1
threads=$((CLIENTS < 2 ? CLIENTS : 2))
# CPU in clock ticks (1/100 s) of every PostgreSQL process, with the ended
# backends they reaped, and of the whole machine (busy, all).
pg_ticks() { cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 == "(postgres)" { s += $14 + $15 + $16 + $17 } END { print s + 0 }'; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
pg0="$(pg_ticks)"; read -r busy0 all0 < <(machine_ticks)
TIMEFORMAT='%U %S'
{ time pgbench "${PG[@]}" -c "$CLIENTS" -j "$threads" -T "$PGBENCH_SECONDS" pgbench_sg >"$out/pgbench.txt"; } 2>"$out/pgbench-time.txt"
pg1="$(pg_ticks)"; read -r busy1 all1 < <(machine_ticks)
cat "$out/pgbench.txt"
txns="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out/pgbench.txt")"
# The last line is `time`'s (pgbench writes its progress to stderr too).
read -r pgb_user pgb_sys < <(tail -n 1 "$out/pgbench-time.txt")
pgbench_cpu="$(awk -v pg=$((pg1 - pg0)) -v busy=$((busy1 - busy0)) -v all=$((all1 - all0)) \
  -v u="$pgb_user" -v s="$pgb_sys" -v n="$txns" 'BEGIN { if (n > 0)
  printf "CPU / transaction %.3f ms: PostgreSQL %.3f, pgbench %.3f (machine busy %.0f%%)",
    busy * 10 / n, pg * 10 / n, (u + s) * 1000 / n, 100 * busy / all }')"
echo "$pgbench_cpu"

# key=value from the benchmark's RESULT line.
field() { sed -n "s/^RESULT .*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" "$out/$1.txt"; }
tps="$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench.txt" | head -n 1)"

echo
echo "== summary: $CLIENTS clients"
printf '%-26s %10s %12s %9s %9s %14s\n' "" "chains/s" "mutations/s" "p50 ms" "p99 ms" "vs pgbench TPS"
for backend in sqlite postgres; do
  mps="$(field "$backend" mutations_per_s)"
  printf '%-26s %10s %12s %9s %9s %14s\n' "salesguard on $backend" \
    "$(field "$backend" chains_per_s)" "$mps" \
    "$(field "$backend" p50_ms)" "$(field "$backend" p99_ms)" \
    "$(awk -v a="$mps" -v b="$tps" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
done
printf '%-26s %10s %12.1f\n' "pgbench TPC-B (TPS)" "" "$tps"
echo
for backend in sqlite postgres; do
  printf '%-26s CPU / mutation %s ms: server %s, PostgreSQL %s, clients %s\n' "salesguard on $backend" \
    "$(field "$backend" cpu_ms)" "$(field "$backend" cpu_server_ms)" \
    "$(field "$backend" cpu_pg_ms)" "$(field "$backend" cpu_client_ms)"
done
printf '%-26s %s\n' "pgbench" "$pgbench_cpu"
echo "(ratio = salesguard mutations/s / pgbench TPS; a pgbench transaction is 5 statements,"
echo " a salesguard mutation is one HTTP GraphQL request: token lookup, one write transaction"
echo " with its audit record and notifications, and the order read back)"
