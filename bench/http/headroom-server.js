// headroom as a user runs it (compiled dist/), in front of the mock upstream: auth, limits
// (memory), admission and the SQLite ledger on. Prints "ready <port> <key,key,…>".
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
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
    HEADROOM_REDIS_PREFIX: `hrbench:${process.pid}:`, // see forgetRedisState
  },
});
const running = await startGateway(gateway);
// Many accounts on the largest API tier, so the benchmark measures the path, not the limits.
const keys = [];
for (let i = 0; i < Number(accounts); i++)
  keys.push((await gateway.accounts.createKey(`bench-${i}`, "api-tier-4")).key);
console.log(`ready ${new URL(running.url).port} ${keys.join(",")}`);
// A clean exit on a signal, so `--cpu-prof` writes its profile; limits kept in Redis go too.
const redisPrefix = `hrbench:${process.pid}:`;
async function forgetRedisState() {
  if (!process.env.BENCH_REDIS_URL) return;
  const redis = new Redis(process.env.BENCH_REDIS_URL);
  let cursor = "0";
  do {
    const [next, found] = await redis.scan(cursor, "MATCH", `${redisPrefix}*`, "COUNT", 1000);
    cursor = next;
    if (found.length > 0) await redis.del(...found);
  } while (cursor !== "0");
  redis.disconnect();
}
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () =>
    running
      .close()
      .then(forgetRedisState)
      .finally(() => process.exit(0)),
  );
