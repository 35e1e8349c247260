/**
 * One tenant's huge requests against everyone else's latency: the compiled gateway (simulated
 * upstream, SQLite) is polled on /healthz every 2 ms while one key sends, one at a time, a 10 MB
 * count_tokens, a 10 MB /v1/messages, a count_tokens with 2,000 tools and a body nested 2,000
 * deep. Prints the worst and 99th-percentile /healthz latency during each against idle.
 * `npm run bench stall`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { buildDist, benchPath as here, startServer as start, stopServers } from "./processes.ts";

buildDist();
const { words } = await start([here("http/headroom-server.js"), "simulated", "1"]);
const [port, keys] = words;
const key = (keys ?? "").split(",")[0] ?? "";
const base = `http://127.0.0.1:${port}`;

const text = (bytes: number) =>
  "capacity planner gateway orbit tokens ".repeat(Math.ceil(bytes / 38)).slice(0, bytes);
const post = (path: string, body: string) =>
  fetch(`${base}${path}`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body,
  }).then(async (response) => {
    await response.arrayBuffer();
    return response.status;
  });

/** /healthz latencies (ms) sampled while `work` runs. */
async function during(
  work: () => Promise<number>,
): Promise<{ status: number; samples: number[]; ms: number }> {
  const samples: number[] = [];
  let running = true;
  const poller = (async () => {
    while (running) {
      const started = performance.now();
      await (await fetch(`${base}/healthz`)).arrayBuffer();
      samples.push(performance.now() - started);
      await sleep(2);
    }
  })();
  await sleep(20);
  const started = performance.now();
  const status = await work();
  const ms = performance.now() - started;
  running = false;
  await poller;
  return { status, samples, ms };
}

const quantile = (values: number[], q: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
};

const tenMb = text(10 * 1024 * 1024);
const tools = Array.from({ length: 2_000 }, (_, i) => ({
  name: `tool_${i}`,
  description: `Tool number ${i}: ${text(200)}`,
  input_schema: { type: "object", properties: { value: { type: "string", description: text(100) } } },
}));
let nested = '"deep"';
for (let i = 0; i < 2_000; i++) nested = `{"a":${nested}}`;

// Bodies are serialised before the measurement: building a 10 MB string would hold this
// process's loop, not the gateway's.
const bodies = {
  countBig: JSON.stringify({ model: "claude-sonnet-4-6", messages: [{ role: "user", content: tenMb }] }),
  messagesBig: JSON.stringify({
    model: "claude-sonnet-4-6",
    max_tokens: 8,
    messages: [{ role: "user", content: tenMb }],
  }),
  tools: JSON.stringify({ model: "claude-sonnet-4-6", tools, messages: [{ role: "user", content: "hi" }] }),
  nested: `{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"metadata":${nested}}`,
};
const cases: Array<[string, () => Promise<number>]> = [
  [
    "idle (no other request)",
    async () => {
      await sleep(500);
      return 200;
    },
  ],
  ["count_tokens, 10 MB prompt", () => post("/v1/messages/count_tokens", bodies.countBig)],
  ["/v1/messages, 10 MB prompt", () => post("/v1/messages", bodies.messagesBig)],
  ["count_tokens, 2,000 tools", () => post("/v1/messages/count_tokens", bodies.tools)],
  ["/v1/messages, body nested 2,000 deep", () => post("/v1/messages", bodies.nested)],
];
// Warm the connection and both processes' JIT before measuring.
for (let i = 0; i < 50; i++) await (await fetch(`${base}/healthz`)).arrayBuffer();

console.log("| one key sends | status | took | /healthz p99 | /healthz worst | samples |");
console.log("|---|---|---|---|---|---|");
for (const [name, work] of cases) {
  const { status, samples, ms } = await during(work);
  console.log(
    `| ${name} | ${status} | ${ms.toFixed(0)} ms | ${quantile(samples, 0.99).toFixed(1)} ms | ${Math.max(...samples).toFixed(1)} ms | ${samples.length} |`,
  );
}
await stopServers();
