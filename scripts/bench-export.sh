#!/usr/bin/env bash
# The export of all order lines to Parquet through the HTTP endpoint against
# PostgreSQL's own `COPY (SELECT …) TO STDOUT` of the same rows, on the demo
# data set at benchmark size in a fresh PostgreSQL database: rows/s of both,
# the ratio (goal >= 0.5) and the peak RSS of each side.
#
#   scripts/bench-export.sh
#
# Environment: SIZE (demo size factor, default 1000 ≈ 1M orders), REPEAT
# (runs of each side, best kept, default 3), PG_ADMIN (default
# postgres://postgres@127.0.0.1:5432), DB (default sg_bench_export),
# REUSE=1 uses the database as it is (no reload), PROFILE (default release;
# `dev` to check the harness quickly on small sizes).
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE="${SIZE:-1000}"
REPEAT="${REPEAT:-3}"
PG_ADMIN="${PG_ADMIN:-postgres://postgres@127.0.0.1:5432}"
DB="${DB:-sg_bench_export}"
PROFILE="${PROFILE:-release}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cargo-target}"
export CARGO_TERM_COLOR=never
url="$PG_ADMIN/$DB"

echo "== building ($PROFILE profile)"
cargo build --profile "$PROFILE" --bin salesguard
cargo bench --profile "$PROFILE" --bench export --no-run
dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")

if [ "${REUSE:-0}" != 1 ]; then
  psql "$PG_ADMIN/postgres" -qX -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
  echo "== loading the demo data set, size $SIZE"
  SALESGUARD_DATABASE_URL="$url" RUST_LOG=warn "$CARGO_TARGET_DIR/$dir/salesguard" demo --bulk --size "$SIZE"
  psql "$url" -qX -c "VACUUM ANALYZE"
fi

echo "== export vs COPY"
cargo bench --profile "$PROFILE" --bench export -- --database-url "$url" --repeat "$REPEAT"
