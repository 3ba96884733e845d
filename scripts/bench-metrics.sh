#!/usr/bin/env bash
# The analysts' `metrics` query over the demo data set, timed through the
# public interface: the release server on the benchmark database, GraphQL
# over HTTP with curl, each query REPEAT times (median and worst), with the
# size of the answer.
#
#   scripts/bench-metrics.sh postgres://postgres@127.0.0.1:5432/sg_bench_signals_1
#
# The database is a demo data set (`salesguard demo --bulk --size 1000` is
# about 1M orders; scripts/bench-signals.sh with KEEP=1 leaves one behind).
# Environment: REPEAT (default 5), BIN (default the release binary),
# PORT (default 18090).
set -euo pipefail
cd "$(dirname "$0")/.."

url="${1:?usage: scripts/bench-metrics.sh DATABASE_URL}"
REPEAT="${REPEAT:-5}"
PORT="${PORT:-18090}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/cargo-target}"
BIN="${BIN:-$CARGO_TARGET_DIR/release/salesguard}"
if [ ! -x "$BIN" ]; then
  cargo build --release --bin salesguard
fi

export SALESGUARD_DATABASE_URL="$url"
export SALESGUARD_BIND="127.0.0.1:$PORT"
export SALESGUARD_WORKER_IN_SERVE=false
export RUST_LOG=warn
password="bench-analyst-password"
SALESGUARD_NEW_PASSWORD="$password" "$BIN" user create --username bench-analyst \
  --position analyst --all-regions >/dev/null 2>&1 || true

"$BIN" serve &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null && break
  sleep 0.5
done

gql() {
  curl -s -H 'content-type: application/json' ${TOKEN:+-H "authorization: Bearer $TOKEN"} \
    --data "$1" "http://127.0.0.1:$PORT/graphql"
}
TOKEN=$(gql '{"query":"mutation{sessionCreate(input:{username:\"bench-analyst\",password:\"'"$password"'\"}){token}}"}' \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["sessionCreate"]["token"])')

read -r first last < <(psql "$url" -AtX -F ' ' -c "SELECT min(shipped_on), max(shipped_on) FROM sales_orders")
echo "history: $first .. $last"
psql "$url" -AtX -c "SELECT count(*) || ' orders, ' || (SELECT count(*) FROM order_lines) || ' lines, ' || (SELECT count(*) FROM agents) || ' agents, ' || (SELECT count(*) FROM regions) || ' regions' FROM sales_orders"

# run NAME INPUT [groups]: the answer as points (one object per value), or
# as groups (a row per group with a value per period).
run() {
  local name="$1" input="$2" shape="${3:-points}"
  local sel='points{periodStart regionId agentId value}'
  if [ "$shape" = groups ]; then
    sel='periods{start} groups{regionId agentId values}'
    name="$name (groups)"
  fi
  local body='{"query":"query($i:MetricsInput!){metrics(input:$i){'"$sel"'}}","variables":{"i":'"$input"'}}'
  local times=() out
  for _ in $(seq 1 "$REPEAT"); do
    out=$(curl -s -o /tmp/bench-metrics.json -w '%{time_total} %{size_download}' \
      -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
      --data "$body" "http://127.0.0.1:$PORT/graphql")
    times+=("$out")
  done
  python3 - "$name" "${times[@]}" <<'EOF'
import json, statistics, sys
name, runs = sys.argv[1], [r.split() for r in sys.argv[2:]]
secs = sorted(float(t) for t, _ in runs)
d = json.load(open("/tmp/bench-metrics.json"))
if d.get("errors"):
    print(f"{name}: ERROR {d['errors'][0]['message']}")
else:
    m = d["data"]["metrics"]
    n = len(m["points"]) if "points" in m else len(m["groups"]) * len(m["periods"])
    print(f"RESULT {name}: median {statistics.median(secs):.3f} s, worst {secs[-1]:.3f} s, {n} points, {int(runs[-1][1]) / 1e6:.1f} MB")
EOF
}

run "DSO by region by month" '{"metric":"DSO","period":"MONTH","groupBy":["REGION"],"from":"'"$first"'","to":"'"$last"'"}'
run "DSO by region by month" '{"metric":"DSO","period":"MONTH","groupBy":["REGION"],"from":"'"$first"'","to":"'"$last"'"}' groups
run "DSO by region by month, top 100" '{"metric":"DSO","period":"MONTH","groupBy":["REGION"],"top":100,"from":"'"$first"'","to":"'"$last"'"}'
run "AR by region by month" '{"metric":"AR","period":"MONTH","groupBy":["REGION"],"from":"'"$first"'","to":"'"$last"'"}'
run "DSO (company) by month" '{"metric":"DSO","period":"MONTH","from":"'"$first"'","to":"'"$last"'"}'
run "sales by agent by week, top 100" '{"metric":"SALES","period":"WEEK","groupBy":["AGENT"],"top":100,"from":"'"$first"'","to":"'"$last"'"}'
run "sales by agent by week, top 1000" '{"metric":"SALES","period":"WEEK","groupBy":["AGENT"],"top":1000,"from":"'"$first"'","to":"'"$last"'"}'
run "sales by agent by week, top 1000" '{"metric":"SALES","period":"WEEK","groupBy":["AGENT"],"top":1000,"from":"'"$first"'","to":"'"$last"'"}' groups
run "sales by agent (whole history)" '{"metric":"SALES","groupBy":["AGENT"],"from":"'"$first"'","to":"'"$last"'"}'
run "sales by week (company)" '{"metric":"SALES","period":"WEEK","from":"'"$first"'","to":"'"$last"'"}'
run "sales by agent by week, all agents" '{"metric":"SALES","period":"WEEK","groupBy":["AGENT"],"from":"'"$first"'","to":"'"$last"'"}'
