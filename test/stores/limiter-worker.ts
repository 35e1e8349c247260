/** A gateway-like process for the multi-process test: hammers one shared key for a while. */
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { connectRedis, RedisLimiterStore, whenReady } from "../../src/stores/redis-limiter.ts";

const [url, prefix, key, limitText, startText, durationText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const client = connectRedis(url, { timeoutMs: 2_000 });
await whenReady(client);
const store = new RedisLimiterStore(client, { prefix });
const rate: DimensionSpec = { kind: "rate", name: "rps", limit: Number(limitText), periodMs: 1_000 };

async function serverMs(): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Number(micros) / 1000;
}

await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startText) - Date.now())));
const stopAt = Date.now() + Number(durationText);
let admitted = 0;
let rejected = 0;
const first = await serverMs();
async function loop(): Promise<void> {
  while (Date.now() < stopAt) {
    const decision = await store.check({ key, dimensions: [rate], costs: [1] });
    if (decision.admitted) admitted++;
    else rejected++;
  }
}
await Promise.all(Array.from({ length: 16 }, loop));
const last = await serverMs();
process.send?.({ admitted, rejected, first, last });
await store.close();
