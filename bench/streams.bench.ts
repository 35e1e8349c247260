/**
 * Streams through the gateway: (1) the latency headroom adds to each SSE event, against the
 * same mock upstream reached directly and through a bare undici proxy — the mock stamps every
 * delta with the instant it sent it and the client subtracts it on arrival; (2) 10,000 streams
 * open at once through headroom's simulated pool (one socket per stream: this machine allows
 * 20,000 descriptors a process, too few for 10,000 upstream sockets too), with the gateway's
 * peak RSS. Targets (issue 11): added latency per event p99 ≤ 0.2 ms; 10,000 concurrent streams
 * under 1.5 GB RSS. `npm run bench streams`.
 */
import { readFileSync } from "node:fs";
import { Agent, request } from "undici";
import { buildDist, benchPath as here, startServer as start } from "./processes.ts";

buildDist();

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** One-way latency of every timed delta of `streams` concurrent streams (ms). */
async function eventLatencies(
  url: string,
  headers: Record<string, string>,
  streams: number,
): Promise<number[]> {
  const agent = new Agent({ connections: streams });
  const latencies: number[] = [];
  const one = async () => {
    const reply = await request(url, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", "anthropic-version": "2023-06-01", ...headers },
      body: JSON.stringify({
        model: "claude-sonnet-4-5",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "timed" }],
      }),
    });
    let buffer = "";
    for await (const chunk of reply.body) {
      const arrived = performance.timeOrigin + performance.now();
      buffer += chunk.toString();
      for (const match of buffer.matchAll(/ t=(\d+\.\d+)/g)) latencies.push(arrived - Number(match[1]));
      buffer = buffer.slice(buffer.lastIndexOf("\n") + 1);
    }
  };
  await Promise.all(Array.from({ length: streams }, one));
  await agent.close();
  return latencies.sort((a, b) => a - b);
}

const [mockPort] = (await start([here("http/mock-upstream.js")])).words;
const mock = `http://127.0.0.1:${mockPort}`;
const [proxyPort] = (await start([here("http/bare-proxy.js"), mock])).words;
const { words: headroomWords } = await start([here("http/headroom-server.js"), mock, "20"]);
const [headroomPort, keyList] = headroomWords;
const key = (keyList ?? "").split(",")[0] ?? "";

console.log("\n### Latency added to each SSE event (20 streams at once, 25 deltas 20 ms apart each)\n");
console.log("| path | p50 ms | p99 ms | p99 added over direct ms |");
console.log("|---|---|---|---|");
const direct = await eventLatencies(`${mock}/v1/messages`, {}, 20);
const rows: Array<[string, number[]]> = [
  ["mock upstream (direct)", direct],
  ["bare undici proxy", await eventLatencies(`http://127.0.0.1:${proxyPort}/v1/messages`, {}, 20)],
  [
    "headroom",
    await eventLatencies(`http://127.0.0.1:${headroomPort}/v1/messages`, { "x-api-key": key }, 20),
  ],
];
for (const [name, sorted] of rows) {
  console.log(
    `| ${name} | ${percentile(sorted, 0.5).toFixed(3)} | ${percentile(sorted, 0.99).toFixed(3)} | ${(percentile(sorted, 0.99) - percentile(direct, 0.99)).toFixed(3)} |`,
  );
}
const through = rows[2]?.[1] ?? [];
const addedP50 = percentile(through, 0.5) - percentile(direct, 0.5);
const added = percentile(through, 0.99) - percentile(direct, 0.99);
const jitter = percentile(direct, 0.99) - percentile(direct, 0.5);
const verdict =
  jitter > 1
    ? `not measurable here: the direct path alone spreads ${jitter.toFixed(1)} ms from p50 to p99`
    : added <= 0.2
      ? "met"
      : "MISSED";
console.log(
  `\nheadroom adds per event: p50 ${addedP50.toFixed(3)} ms, p99 ${added.toFixed(3)} ms (target p99 ≤ 0.2 ms: ${verdict})`,
);

if (process.env.BENCH_ONLY === "latency") process.exit(0);
// 10,000 streams at once through the simulated pool: 20 tokens at 2 tokens/s, about 10 s each.
const STREAMS = 10_000;
// 100 api-tier-4 accounts: 200 requests in flight each is the tier's concurrency limit.
const { child: pool, words: poolWords } = await start([
  here("http/headroom-server.js"),
  "simulated",
  "100",
  // Room for every stream, so admission control (which sheds before a pool is full) stays out of it.
  String(STREAMS * 3),
  "2",
]);
const [poolPort, poolKeyList] = poolWords;
const poolKeys = (poolKeyList ?? "").split(",");
const rssMb = () => {
  const status = readFileSync(`/proc/${pool.pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
};
const idle = rssMb();
let peak = idle;
const sampler = setInterval(() => {
  peak = Math.max(peak, rssMb());
}, 100);
const agent = new Agent({
  connections: STREAMS,
  pipelining: 0,
  connectTimeout: 60_000,
  headersTimeout: 120_000,
  bodyTimeout: 120_000,
});
let open = 0;
let completed = 0;
let failed = 0;
let firstFailure = "";
const stream = async (_: unknown, i: number) => {
  try {
    const reply = await request(`http://127.0.0.1:${poolPort}/v1/messages`, {
      method: "POST",
      dispatcher: agent,
      headers: { "content-type": "application/json", "x-api-key": poolKeys[i % poolKeys.length] ?? "" },
      body: JSON.stringify({
        model: "claude-sonnet-4-6",
        max_tokens: 64,
        stream: true,
        messages: [{ role: "user", content: "sim:tokens=20" }],
      }),
    });
    if (reply.statusCode !== 200) {
      failed++;
      const text = await reply.body.text();
      firstFailure ||= `${reply.statusCode} ${text.slice(0, 200)}`;
      return;
    }
    open++;
    const text = await reply.body.text();
    if (text.includes("message_stop")) completed++;
    else failed++;
  } catch (error) {
    failed++;
    firstFailure ||= (error as Error).message;
  }
};
const started = performance.now();
await Promise.all(Array.from({ length: STREAMS }, stream));
clearInterval(sampler);
await agent.close();
console.log(`\n### ${STREAMS.toLocaleString("en-US")} concurrent streams through the simulated pool\n`);
console.log(
  `opened ${open.toLocaleString("en-US")}, completed ${completed.toLocaleString("en-US")}, failed ${failed} in ${((performance.now() - started) / 1000).toFixed(1)} s; ` +
    `gateway RSS idle ${idle.toFixed(0)} MB, peak ${peak.toFixed(0)} MB, ${(((peak - idle) * 1024) / STREAMS).toFixed(1)} KB per open stream (target < 1,536 MB: ${peak < 1536 && completed === STREAMS ? "met" : "MISSED"})`,
);
if (firstFailure) console.log(`first failure: ${firstFailure}`);
process.exit(0);
