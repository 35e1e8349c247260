#!/usr/bin/env bash
# The deal story end to end: a pro key spends its 5-hour budget just before the Colossus deal
# takes effect (2026-05-06T00:00:00Z), is refused, and gets the doubled budget at that instant.
# The server's clock starts 20 s before the deal (HEADROOM_CLOCK_START), so no waiting for May.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d)
port=8797
headroom() { node bin/headroom.js "$@" --data-dir "$dir"; }
ask() {
  curl -s -o /dev/null -w '%{http_code} ' "http://127.0.0.1:$port/v1/messages" -H "x-api-key: $key" \
    -H 'content-type: application/json' \
    -d '{"model":"claude-sonnet-4-6","max_tokens":20000,"messages":[{"role":"user","content":"sim:tokens=16000"}]}'
}
limits() {
  curl -s "http://127.0.0.1:$port/v1/headroom/limits" -H "x-api-key: $key" |
    node -e 'const v=JSON.parse(require("fs").readFileSync(0));const w=v.limits.find(l=>l.name==="5h");console.log(`policy ${v.policy}: 5-hour budget $${w.limit}, remaining $${w.remaining.toFixed(2)}, resets ${w.resets_at}`)'
}

capacity() {
  curl -s "http://127.0.0.1:$port/admin/v1/overview" -H "authorization: Bearer $admin" |
    node -e 'const v=JSON.parse(require("fs").readFileSync(0));const s=v.families.find(f=>f.family==="sonnet");console.log(`capacity: Sonnet ${Math.round(s.capacity_tokens_per_second).toLocaleString("en-US")} output tokens/s (this gateway\x27s share of the fleet at ${new Date(v.at).toISOString()})`)'
}
admin=hr-admin-deal-demo-$RANDOM$RANDOM$RANDOM$RANDOM

echo '$ headroom policy apply examples/deal-policy.yaml'
headroom policy apply examples/deal-policy.yaml
echo '$ headroom keys create --account alice --plan pro --json'
key=$(headroom keys create --account alice --plan pro --json | node -pe 'JSON.parse(require("fs").readFileSync(0)).key')
echo "{\"key\":\"${key:0:12}…\"}"
HEADROOM_ADMIN_TOKEN=$admin HEADROOM_CLOCK_START=2026-05-05T23:59:40Z node bin/headroom.js serve --port $port --data-dir "$dir" --config examples/demo-fast.yaml >"$dir/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
until curl -s "http://127.0.0.1:$port/healthz" >/dev/null; do sleep 0.2; done

echo
echo '# 23:59:40, before the deal: 16,000-token Sonnet replies ($0.24 each) until refused'
for _ in 1 2 3 4 5 6; do ask; done; echo
limits
capacity
curl -s "http://127.0.0.1:$port/v1/messages" -H "x-api-key: $key" -H 'content-type: application/json' \
  -d '{"model":"claude-sonnet-4-6","max_tokens":20000,"messages":[{"role":"user","content":"sim:tokens=16000"}]}'; echo

echo
echo '# waiting for 00:00:00, when 2026-05-06-colossus takes effect (no restart)...'
sleep 21
limits
capacity
echo '# Colossus 1 is handed over over 25 days (ramp_days); the fleet at each date it changes:'
echo '$ headroom fleet timeline examples/colossus-fleet.yaml'
node bin/headroom.js fleet timeline examples/colossus-fleet.yaml
for _ in 1 2 3 4 5 6 7; do ask; done; echo
limits
echo '$ headroom usage'
headroom usage
