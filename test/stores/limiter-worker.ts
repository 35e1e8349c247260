/**
 * A gateway-like process for the multi-process test: sends a fixed number of decisions for one
 * shared key, 16 at a time, as fast as it can, and reports how many were admitted.
 */
import type { DimensionSpec } from "../../src/limits/dimension.ts";
import { connectRedis, whenReady } from "../../src/stores/redis-connection.ts";
import { RedisLimiterStore } from "../../src/stores/redis-limiter.ts";

const [url, prefix, key, dimensionsJson, countText] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  string,
];
const dimensions = JSON.parse(dimensionsJson) as DimensionSpec[];
const costs = dimensions.map(() => 1);
const client = connectRedis(url, { timeoutMs: 10_000 });
await whenReady(client);
const store = new RedisLimiterStore(client, { prefix });

let left = Number(countText);
let admitted = 0;
let rejected = 0;
async function loop(): Promise<void> {
  while (left > 0) {
    left--;
    const decision = await store.check({ key, dimensions, costs });
    if (decision.admitted) admitted++;
    else rejected++;
  }
}
// Say ready, then wait for the go signal, so every process starts together.
const go = new Promise((resolve) => process.once("message", resolve));
process.send?.("ready");
await go;
await Promise.all(Array.from({ length: 16 }, loop));
process.send?.({ admitted, rejected });
await store.close();
