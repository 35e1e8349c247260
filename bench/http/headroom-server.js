// headroom as a user runs it (compiled dist/), in front of the mock upstream: auth, limits
// (memory), admission and the SQLite ledger on. Prints "ready <port> <key,key,…>".
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../dist/config/load.js";
import { createGateway, startGateway } from "../../dist/gateway.js";

// "simulated" as the upstream: the built-in pool, with room for `slots` streams decoding at
// `rate` tokens/s (so many streams stay open at once without an upstream socket each).
const [upstreamUrl, accounts = "200", slots = "256", rate] = process.argv.slice(2);
const dataDir = mkdtempSync(join(tmpdir(), "headroom-bench-"));
const simulated = upstreamUrl === "simulated";
const config = loadConfig({
  env: {},
  overrides: { port: 0, dataDir, upstreamUrl: simulated ? undefined : upstreamUrl },
});
config.server.log_level = "silent";
if (simulated) {
  const pool = config.upstreams.simulated;
  if (pool?.type === "simulated") Object.assign(pool, { slots: Number(slots), queue: 0 });
  for (const model of config.models)
    if (model.simulation && rate)
      model.simulation = { ...model.simulation, decode_tokens_per_s: Number(rate), ttft_ms: 0 };
}
const gateway = await createGateway(config, {
  env: {
    HEADROOM_UPSTREAM_KEY: "bench",
    REDIS_URL: process.env.BENCH_REDIS_URL,
    HEADROOM_REDIS_PREFIX: `hrbench:${process.pid}:`,
  },
});
const running = await startGateway(gateway);
// Many accounts on the largest API tier, so the benchmark measures the path, not the limits.
const keys = [];
for (let i = 0; i < Number(accounts); i++)
  keys.push((await gateway.accounts.createKey(`bench-${i}`, "api-tier-4")).key);
console.log(`ready ${new URL(running.url).port} ${keys.join(",")}`);
// A clean exit on a signal, so `--cpu-prof` writes its profile.
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => running.close().then(() => process.exit(0)));
