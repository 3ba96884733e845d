#!/usr/bin/env bash
# A full recompute of the risk signals over the demo data set at 1/8, 1/4,
# 1/2 and the full benchmark size, each in a fresh PostgreSQL database:
# polars (load + compute) time and peak memory, and the same signals as SQL
# on PostgreSQL, with a check that both agree. Ends with a summary table.
#
#   scripts/bench-signals.sh
#
# Environment: SIZE (demo size factor of the full run, default 1000 ≈ 1M
# orders), FRACTIONS (default "8 4 2 1"), PG_ADMIN (default
# postgres://postgres@127.0.0.1:5432), KEEP=1 keeps the databases.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE="${SIZE:-1000}"
FRACTIONS="${FRACTIONS:-8 4 2 1}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cargo-target}"
export CARGO_TERM_COLOR=never

echo "== building (release profile)"
cargo build --release --bin salesguard
cargo bench --bench signals --no-run
bin="$CARGO_TARGET_DIR/release/salesguard"

results=()
for f in $FRACTIONS; do
  size=$(python3 -c "print($SIZE / $f)")
  db="sg_bench_signals_$f"
  url="$PG_ADMIN/$db"
  psql "$PG_ADMIN/postgres" -qX -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
  echo
  echo "== size $size (1/$f): loading the demo data set"
  start=$(date +%s)
  SALESGUARD_DATABASE_URL="$url" RUST_LOG=warn "$bin" demo --bulk --size "$size"
  echo "loaded in $(( $(date +%s) - start )) s"
  psql "$url" -qX -c "VACUUM ANALYZE"
  echo "== size $size (1/$f): recompute"
  line=$(cargo bench --bench signals -- --database-url "$url" | tee /dev/stderr | grep '^RESULT')
  results+=("1/$f ${line#RESULT }")
  if [ "${KEEP:-0}" != 1 ]; then
    psql "$PG_ADMIN/postgres" -qX -c "DROP DATABASE IF EXISTS $db"
  fi
done

echo
echo "== summary"
for r in "${results[@]}"; do
  echo "$r"
done
