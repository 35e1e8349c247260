/**
 * Hostile clients against one gateway (compiled, simulated upstream, SQLite), with its RSS
 * sampled throughout: a flood of invalid keys from one address, ten 31 MB bodies sent with
 * an invalid key, and 1,000 sockets that never finish their headers — while a valid key keeps
 * asking. Prints what each attacker got and the gateway's memory. `npm run bench abuse`.
 */
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { buildDist, benchPath as here, startServer as start } from "./processes.ts";

buildDist();

const { child, words } = await start([here("http/headroom-server.js"), "simulated", "1"]);
const [port, key] = words;
const base = `http://127.0.0.1:${port}`;
const rssMb = () =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
const idle = rssMb();
let peak = idle;
const sampler = setInterval(() => {
  peak = Math.max(peak, rssMb());
}, 50);

const ask = (apiKey: string) =>
  fetch(`${base}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": apiKey, "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: 8,
      messages: [{ role: "user", content: "hi" }],
    }),
  });

// A valid key asks throughout; every answer it gets is counted.
const valid: number[] = [];
let attacking = true;
const legit = (async () => {
  while (attacking) {
    const response = await ask(key ?? "");
    await response.arrayBuffer();
    valid.push(response.status);
    await sleep(20);
  }
})();

console.log("| attack | outcome |");
console.log("|---|---|");

// 1. 4,000 invalid keys, 50 at a time.
{
  const statuses = new Map<number, number>();
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < 4_000) {
        next++;
        const response = await ask(`sk-hr-guess-${next}`);
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const counts = [...statuses].map(([status, count]) => `${count}× ${status}`).join(", ");
  console.log(`| 4,000 invalid keys from one address (${Math.round(4_000 / seconds)}/s) | ${counts} |`);
}

// 2. Ten 31 MB bodies with an invalid key, each written as fast as the socket takes it. A client
// that never pauses to read may lose the 401 to the reset that closing an unread socket sends
// ("none"); the SDKs read it (test/edge/hostile-clients.test.ts).
{
  const size = 31 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, "a");
  const results = await Promise.all(
    Array.from(
      { length: 10 },
      () =>
        new Promise<{ status: string; sent: number }>((resolve) => {
          const socket = connect(Number(port), "127.0.0.1");
          let sent = 0;
          let answer = "";
          socket.on("data", (data) => {
            answer += data.toString("latin1");
          });
          socket.on("error", () => {});
          socket.on("close", () => resolve({ status: answer.slice(9, 12) || "none", sent }));
          socket.write(
            `POST /v1/messages HTTP/1.1\r\nhost: x\r\nx-api-key: sk-hr-big-${Math.random()}\r\ncontent-type: application/json\r\ncontent-length: ${size}\r\n\r\n`,
          );
          const pump = () => {
            while (sent < size && !socket.destroyed) {
              sent += chunk.length;
              if (!socket.write(chunk)) {
                socket.once("drain", pump);
                return;
              }
            }
            socket.end();
          };
          pump();
        }),
    ),
  );
  const sentMb = results.map((result) => result.sent / 1024 / 1024);
  console.log(
    `| ten 31 MB bodies with an invalid key, written blindly | answer read: ${[...new Set(results.map((r) => r.status))].join(", ")}; the client got to write at most ${Math.max(...sentMb).toFixed(1)} MB before the gateway closed |`,
  );
}

// 3. 1,000 sockets that send half a request line and stop.
{
  const sockets = Array.from({ length: 1_000 }, () => {
    const socket = connect(Number(port), "127.0.0.1");
    socket.on("error", () => {});
    // Read (and drop) whatever comes back, so the gateway's close is seen.
    socket.resume();
    socket.write("POST /v1/messages HTTP/1.1\r\nhost: x\r\n");
    return socket;
  });
  const started = performance.now();
  while (sockets.some((socket) => !socket.destroyed) && performance.now() - started < 30_000)
    await sleep(100);
  const open = sockets.filter((socket) => !socket.destroyed).length;
  console.log(
    `| 1,000 sockets that never finish their headers | ${1_000 - open} closed by the gateway within ${((performance.now() - started) / 1000).toFixed(1)} s, ${open} still open |`,
  );
  for (const socket of sockets) socket.destroy();
}

attacking = false;
await legit;
clearInterval(sampler);
const ok = valid.filter((status) => status === 200).length;
console.log(`| a valid key asking throughout | ${ok} of ${valid.length} answered 200 |`);
console.log(`\ngateway RSS: ${idle.toFixed(0)} MB idle, ${peak.toFixed(0)} MB peak during the attacks`);
process.exit(0);
