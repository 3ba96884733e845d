#!/usr/bin/env bash
# The order-to-cash chain benchmark on SQLite and on PostgreSQL, then pgbench
# (default TPC-B-like script) with the same number of clients on the same
# PostgreSQL server, in ROUNDS interleaved rounds, and a summary side by side.
#
#   scripts/bench.sh [CLIENTS]            (default 8)
#
# Each round runs the chain on SQLite, the chain on PostgreSQL and pgbench,
# one right after the other. A shared or virtual machine's speed drifts by
# 10-20% within minutes, so a ratio is only worth something between runs
# made together: the summary gives each round's ratio and their median.
#
# Environment: ROUNDS (default 3), CHAINS (total chains per backend and
# round, default 400), PGBENCH_SECONDS (default 30), SALESGUARD_TEST_PG_URL
# (default postgres://postgres@127.0.0.1:5432/test), BENCH_ARGS (extra
# arguments for the chain benchmark, e.g. "--profile" or "--fields light").
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS="${1:-8}"
ROUNDS="${ROUNDS:-3}"
CHAINS="${CHAINS:-400}"
PGBENCH_SECONDS="${PGBENCH_SECONDS:-30}"
PG_URL="${SALESGUARD_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}"
BENCH_ARGS="${BENCH_ARGS:-}"
PG=(-h 127.0.0.1 -U postgres)

if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "ROUNDS must be a whole number of at least 1, not '$ROUNDS'" >&2
  exit 2
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cargo-target}"
export CARGO_TERM_COLOR=never

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

if ! pg_isready "${PG[@]}" -q; then
  echo "PostgreSQL is not accepting connections on 127.0.0.1:5432" >&2
  exit 1
fi

echo "== building the benchmark (release profile)"
# Every round runs this one binary: a source edited while the rounds run
# does not rebuild the benchmark half-way through them.
bench_bin="$(cargo bench --bench chain --no-run --message-format=json \
  | grep '"kind":\["bench"\],"crate_types":\["bin"\],"name":"chain"' \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1)"
if [ ! -x "$bench_bin" ]; then
  echo "cannot find the chain benchmark's binary" >&2
  exit 1
fi
echo "$bench_bin"

echo
echo "== pgbench database: scale 10"
if [ "$(psql "${PG[@]}" -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = 'pgbench_sg'")" != "1" ]; then
  psql "${PG[@]}" -d postgres -qc "CREATE DATABASE pgbench_sg"
fi
pgbench "${PG[@]}" -i -s 10 -q pgbench_sg 2>&1 | tail -n 1
threads=$((CLIENTS < 2 ? CLIENTS : 2))

# CPU in clock ticks (1/100 s) of every PostgreSQL process, with the ended
# backends they reaped, and of the whole machine (busy, all).
# (A process that ends between the glob and the read makes cat fail; the
# others still count.)
pg_ticks() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" { s += $14 + $15 + $16 + $17 } END { print s + 0 }'; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }

# pgbench_round R: runs pgbench, writes its output to $out/pgbench.R.txt and
# its CPU per transaction to $out/pgbench-cpu.R.txt.
pgbench_round() {
  local r="$1" pg0 pg1 busy0 all0 busy1 all1 txns pgb_user pgb_sys
  pg0="$(pg_ticks)"; read -r busy0 all0 < <(machine_ticks)
  TIMEFORMAT='%U %S'
  { time pgbench "${PG[@]}" -c "$CLIENTS" -j "$threads" -T "$PGBENCH_SECONDS" pgbench_sg >"$out/pgbench.$r.txt"; } 2>"$out/pgbench-time.$r.txt"
  pg1="$(pg_ticks)"; read -r busy1 all1 < <(machine_ticks)
  txns="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out/pgbench.$r.txt")"
  # The last line is `time`'s (pgbench writes its progress to stderr too).
  read -r pgb_user pgb_sys < <(tail -n 1 "$out/pgbench-time.$r.txt")
  awk -v pg=$((pg1 - pg0)) -v busy=$((busy1 - busy0)) -v all=$((all1 - all0)) \
    -v u="$pgb_user" -v s="$pgb_sys" -v n="$txns" 'BEGIN { if (n > 0)
    printf "CPU / transaction %.3f ms: PostgreSQL %.3f, pgbench %.3f (machine busy %.0f%%)",
      busy * 10 / n, pg * 10 / n, (u + s) * 1000 / n, 100 * busy / all }' >"$out/pgbench-cpu.$r.txt"
}

for r in $(seq 1 "$ROUNDS"); do
  for backend in sqlite postgres; do
    echo
    echo "== round $r/$ROUNDS: chain benchmark on $backend: $CLIENTS clients, $CHAINS chains"
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of words
    "$bench_bin" --backend "$backend" --clients "$CLIENTS" \
      --chains "$CHAINS" --pg-url "$PG_URL" $BENCH_ARGS | tee "$out/$backend.$r.txt"
  done
  echo
  echo "== round $r/$ROUNDS: pgbench: $CLIENTS clients, ${PGBENCH_SECONDS} s, scale 10, TPC-B-like"
  pgbench_round "$r"
  cat "$out/pgbench.$r.txt" "$out/pgbench-cpu.$r.txt"
  echo
done

# key=value from a benchmark's RESULT line: field FILE KEY.
field() { sed -n "s/^RESULT .*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" "$out/$1.txt"; }
tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$out/pgbench.$1.txt" | head -n 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo
echo "== summary: $CLIENTS clients, $ROUNDS rounds"
printf '%-6s %-26s %10s %12s %9s %9s %14s\n' "round" "" "chains/s" "mutations/s" "p50 ms" "p99 ms" "vs pgbench TPS"
: >"$out/ratios.postgres"; : >"$out/ratios.sqlite"; : >"$out/sqlite-vs-postgres"
for r in $(seq 1 "$ROUNDS"); do
  for backend in sqlite postgres; do
    mps="$(field "$backend.$r" mutations_per_s)"
    rt="$(ratio "$mps" "$(tps "$r")")"
    echo "$rt" >>"$out/ratios.$backend"
    printf '%-6s %-26s %10s %12s %9s %9s %14s\n' "$r" "salesguard on $backend" \
      "$(field "$backend.$r" chains_per_s)" "$mps" \
      "$(field "$backend.$r" p50_ms)" "$(field "$backend.$r" p99_ms)" "$rt"
  done
  printf '%-6s %-26s %10s %12.1f\n' "$r" "pgbench TPC-B (TPS)" "" "$(tps "$r")"
  ratio "$(field "sqlite.$r" mutations_per_s)" "$(field "postgres.$r" mutations_per_s)" >>"$out/sqlite-vs-postgres"
  echo >>"$out/sqlite-vs-postgres"
done
echo
echo "median ratio to pgbench TPS: PostgreSQL $(median <"$out/ratios.postgres"), SQLite $(median <"$out/ratios.sqlite")"
echo "median SQLite / PostgreSQL mutations/s: $(median <"$out/sqlite-vs-postgres")"
echo
for r in $(seq 1 "$ROUNDS"); do
  for backend in sqlite postgres; do
    printf 'round %-3s %-26s CPU / mutation %s ms: server %s, PostgreSQL %s, clients %s\n' "$r" "salesguard on $backend" \
      "$(field "$backend.$r" cpu_ms)" "$(field "$backend.$r" cpu_server_ms)" \
      "$(field "$backend.$r" cpu_pg_ms)" "$(field "$backend.$r" cpu_client_ms)"
  done
  printf 'round %-3s %-26s %s\n' "$r" "pgbench" "$(cat "$out/pgbench-cpu.$r.txt")"
done
echo "(ratio = salesguard mutations/s / pgbench TPS of the same round; a pgbench transaction"
echo " is 5 statements, a salesguard mutation is one HTTP GraphQL request: token lookup, one"
echo " write transaction with its audit record and notifications, and the order read back)"
