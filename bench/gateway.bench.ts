/**
 * The gateway's overhead, in one run on one machine: a mock Anthropic upstream (JSON and SSE),
 * a bare undici reverse proxy (the ceiling), headroom with auth, limits (memory) and the SQLite
 * ledger on (compiled dist/, as users run it), and Portkey's open-source gateway
 * (`@portkey-ai/gateway`, routed by its x-portkey-provider / x-portkey-custom-host headers).
 * Each server is its own process; autocannon drives them from this one. Printed: req/s at 50
 * connections, light-load p50/p99 (one request in flight) and what each adds over the mock.
 * Targets (issue 11): headroom ≥ 0.7× the proxy's req/s and ≥ 5× Portkey's; light-load added
 * p50 ≤ 2× what the proxy adds.
 */
import { readFileSync } from "node:fs";
import autocannon from "autocannon";
import { Pool } from "undici";
import { buildDist, benchPath as here, startServer, stopServers } from "./processes.ts";

buildDist();
/** The words after "ready" of a server process started for this run. */
const start = async (args: string[], readyPattern?: RegExp) =>
  (await startServer(args, { readyPattern })).words;

const [mockPort] = await start([here("http/mock-upstream.js")]);
const mock = `http://127.0.0.1:${mockPort}`;
const [proxyPort] = await start([here("http/bare-proxy.js"), mock]);
const [headroomPort, keyList] = await start([here("http/headroom-server.js"), mock]);
const keys = (keyList ?? "").split(",");
// With REDIS_URL set, headroom once more with its limits in Redis (a key prefix of its own).
const redisHeadroom = process.env.REDIS_URL
  ? await (async () => {
      const { words } = await startServer([here("http/headroom-server.js"), mock], {
        env: { ...process.env, BENCH_REDIS_URL: process.env.REDIS_URL },
      });
      return { port: words[0], keys: (words[1] ?? "").split(",") };
    })()
  : undefined;
const portkeyPort = 18_000 + Math.floor(Math.random() * 1_000);
await start(
  [
    "--import",
    here("http/keep-global-response.js"),
    here("../node_modules/@portkey-ai/gateway/build/start-server.js"),
    `--port=${portkeyPort}`,
    "--headless",
  ],
  /(Ready for connections)/,
);

interface Target {
  name: string;
  url: string;
  headers: () => Record<string, string>;
}
let next = 0;
const targets: Target[] = [
  { name: "mock upstream (direct)", url: `${mock}/v1/messages`, headers: () => ({}) },
  { name: "bare undici proxy", url: `http://127.0.0.1:${proxyPort}/v1/messages`, headers: () => ({}) },
  {
    name: "headroom",
    url: `http://127.0.0.1:${headroomPort}/v1/messages`,
    headers: () => ({ "x-api-key": keys[next++ % keys.length] as string }),
  },
  ...(redisHeadroom
    ? [
        {
          name: "headroom, limits in Redis",
          url: `http://127.0.0.1:${redisHeadroom.port}/v1/messages`,
          headers: () => ({ "x-api-key": redisHeadroom.keys[next++ % redisHeadroom.keys.length] as string }),
        },
      ]
    : []),
  {
    name: "Portkey gateway 1.15.2",
    url: `http://127.0.0.1:${portkeyPort}/v1/messages`,
    headers: () => ({
      "x-api-key": "bench",
      "x-portkey-provider": "anthropic",
      "x-portkey-custom-host": `${mock}/v1`,
    }),
  },
];

const body = (stream: boolean) =>
  JSON.stringify({
    model: "claude-sonnet-4-5",
    max_tokens: 64,
    stream,
    messages: [{ role: "user", content: "Say ten words." }],
  });

async function probe(target: Target, stream: boolean): Promise<string | null> {
  const response = await fetch(target.url, {
    method: "POST",
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...target.headers() },
    body: body(stream),
  });
  const text = await response.text();
  if (response.status !== 200) return `${response.status} ${text.slice(0, 160)}`;
  if (stream ? !text.includes("message_stop") : !text.includes('"usage"'))
    return `unexpected reply ${text.slice(0, 160)}`;
  return null;
}

async function load(target: Target, stream: boolean, connections: number, seconds: number) {
  const result = await autocannon({
    url: target.url,
    method: "POST",
    connections,
    duration: seconds,
    headers: { "content-type": "application/json", "anthropic-version": "2023-06-01" },
    body: body(stream),
    requests: [
      {
        setupRequest: (request) => ({
          ...request,
          headers: { ...request.headers, ...target.headers() },
        }),
      },
    ],
  });
  return { rps: result.requests.average, failed: result.non2xx + result.errors + result.timeouts };
}

/** One request in flight for `seconds`, timed to the microsecond (autocannon rounds to 1 ms). */
async function lightLoad(target: Target, stream: boolean, seconds: number, payload = body(stream)) {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: 1 });
  const times: number[] = [];
  let failed = 0;
  const stopAt = performance.now() + seconds * 1000;
  while (performance.now() < stopAt) {
    const started = performance.now();
    const reply = await pool.request({
      path: url.pathname,
      method: "POST",
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...target.headers() },
      body: payload,
    });
    await reply.body.text();
    if (reply.statusCode !== 200) failed++;
    times.push(performance.now() - started);
  }
  await pool.close();
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99), failed };
}

/**
 * A Claude Code-sized prompt: ≈110k tokens of source code in 20 tool results (≈440 KiB of
 * JSON, the size issue 25 names), whatever the size of the file the code comes from.
 */
const source = readFileSync(here("../src/planner/simulate.ts"), "utf8").slice(0, 22_000);
const largeBody = JSON.stringify({
  model: "claude-sonnet-4-5",
  max_tokens: 64,
  messages: Array.from({ length: 20 }, (_, i) => [
    { role: "user", content: [{ type: "tool_result", tool_use_id: `toolu_${i}`, content: source }] },
    { role: "assistant", content: [{ type: "text", text: "Read it." }] },
  ])
    .flat()
    .concat([{ role: "user", content: [{ type: "text", text: "Summarise." }] }]),
});

const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
for (const stream of [false, true]) {
  console.log(`\n### ${stream ? "SSE (10 text deltas)" : "JSON"} replies\n`);
  const rows: Array<
    { name: string; rps: number; p50: number; p99: number; failed: number } | { name: string; error: string }
  > = [];
  for (const target of targets) {
    const problem = await probe(target, stream);
    if (problem) {
      rows.push({ name: target.name, error: problem });
      continue;
    }
    await load(target, stream, 50, 1); // warm-up
    const heavy = await load(target, stream, 50, 5);
    const light = await lightLoad(target, stream, 3);
    rows.push({
      name: target.name,
      rps: heavy.rps,
      p50: light.p50,
      p99: light.p99,
      failed: heavy.failed + light.failed,
    });
  }
  const mockRow = rows[0];
  const base = mockRow && "p50" in mockRow ? mockRow.p50 : 0;
  console.log("| target | req/s at 50 conns | light p50 ms | light p99 ms | p50 added ms | failed |");
  console.log("|---|---|---|---|---|---|");
  for (const row of rows) {
    if ("error" in row) console.log(`| ${row.name} | failed: ${row.error} | | | | |`);
    else
      console.log(
        `| ${row.name} | ${fmt(row.rps)} | ${fmt(row.p50, 3)} | ${fmt(row.p99, 3)} | ${fmt(row.p50 - base, 3)} | ${row.failed} |`,
      );
  }
  const find = (name: string) => rows.find((row) => row.name.startsWith(name));
  const proxy = find("bare");
  const headroom = rows.find((row) => row.name === "headroom");
  const portkey = find("Portkey");
  if (headroom && "rps" in headroom && proxy && "rps" in proxy) {
    const ratio = headroom.rps / proxy.rps;
    const added = (headroom.p50 - base) / Math.max(0.01, proxy.p50 - base);
    console.log(
      `\nheadroom / proxy req/s: ${ratio.toFixed(2)}× (target ≥ 0.7×: ${ratio >= 0.7 ? "met" : "MISSED"})`,
    );
    console.log(
      `headroom added p50 / proxy added p50: ${added.toFixed(2)}× (target ≤ 2×: ${added <= 2 ? "met" : "MISSED"})`,
    );
  }
  if (headroom && "rps" in headroom && portkey && "rps" in portkey) {
    const ratio = headroom.rps / portkey.rps;
    console.log(
      `headroom / Portkey req/s: ${ratio.toFixed(2)}× (target ≥ 5×: ${ratio >= 5 ? "met" : "MISSED"})`,
    );
  }
}
console.log(
  `\n### A Claude Code-sized prompt (${fmt(largeBody.length / 1024)} KiB, JSON reply), one in flight\n`,
);
console.log("| target | p50 ms | p99 ms | p50 added ms |");
console.log("|---|---|---|---|");
let largeBase = 0;
for (const target of targets.slice(0, 3)) {
  const light = await lightLoad(target, false, 3, largeBody);
  if (target.name.startsWith("mock")) largeBase = light.p50;
  console.log(
    `| ${target.name} | ${fmt(light.p50, 3)} | ${fmt(light.p99, 3)} | ${fmt(light.p50 - largeBase, 3)} |${light.failed > 0 ? ` ${light.failed} failed` : ""}`,
  );
}
await stopServers();
process.exit(0);
