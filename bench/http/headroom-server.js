// headroom as a user runs it (compiled dist/), in front of the mock upstream: auth, limits
// (memory), admission and the SQLite ledger on. Prints "ready <port> <key,key,…>".
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../dist/config/load.js";
import { createGateway, startGateway } from "../../dist/gateway.js";

const [upstreamUrl, accounts = "200"] = process.argv.slice(2);
const dataDir = mkdtempSync(join(tmpdir(), "headroom-bench-"));
const config = loadConfig({ env: {}, overrides: { port: 0, dataDir, upstreamUrl } });
config.server.log_level = "silent";
const gateway = await createGateway(config, { env: { HEADROOM_UPSTREAM_KEY: "bench" } });
const running = await startGateway(gateway);
// Many accounts on the largest API tier, so the benchmark measures the path, not the limits.
const keys = [];
for (let i = 0; i < Number(accounts); i++)
  keys.push((await gateway.accounts.createKey(`bench-${i}`, "api-tier-4")).key);
console.log(`ready ${new URL(running.url).port} ${keys.join(",")}`);
// A clean exit on a signal, so `--cpu-prof` writes its profile.
for (const signal of ["SIGINT", "SIGTERM"])
  process.on(signal, () => running.close().then(() => process.exit(0)));
