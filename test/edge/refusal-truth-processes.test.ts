/**
 * A refusal never shows room and no 200 passes a hard limit — through real processes: three
 * `headroom serve` children share one Redis through a link that holds every reply 1–15 ms,
 * beside a process that keeps a core busy, for random limits and reply sizes. The gateways run
 * on the wall clock, so the limit refills while a burst is served: the bound counts that refill
 * (limit / 60 per second of the burst), which only loosens it as the machine gets slower.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { runCli, startServe, writeFastConfig } from "../helpers/cli.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { assertNoRoomShown, streamOnce } from "../helpers/refusals.ts";
import { type FreezableProxy, startFreezableProxy } from "../helpers/tcp-proxy.ts";

const { skip, prefix } = await redisScope("truth-processes");
const STREAMS = 30;

describe("three gateway processes on a slow Redis beside a CPU hog (property)", { skip }, () => {
  let proxy: FreezableProxy;
  let hog: ChildProcess;
  const children: ChildProcess[] = [];
  const urls: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), "headroom-truth-"));
  const env = () => ({ REDIS_URL: proxy.url, HEADROOM_REDIS_PREFIX: prefix });
  const cli = async (args: string[]) => {
    const run = await runCli([...args, "--config", "fast.yaml"], { cwd: dir, env: env() });
    assert.equal(run.code, 0, run.stderr);
    return run.stdout;
  };

  before(async () => {
    proxy = await startFreezableProxy(new URL(REDIS_URL));
    writeFastConfig(dir);
    hog = spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
    for (let i = 0; i < 3; i++) {
      const started = await startServe(["--port", "0", "--config", "fast.yaml"], { cwd: dir, env: env() });
      children.push(started.child);
      urls.push(started.url);
    }
  });
  after(async () => {
    hog?.kill("SIGKILL");
    for (const child of children) child.kill("SIGKILL");
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("admitted within the room (plus its refill), nothing sent past it, every refusal lacks room", async (t) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 20, max: 200 }),
        fc.integer({ min: 1, max: 15 }),
        async (fits, reply, delayMs) => {
          const limit = fits * reply + Math.floor(reply / 2);
          const org = `truth-${run++}`;
          await cli(["orgs", "create", org, "--otpm", String(limit)]);
          await cli(["teams", "create", `${org}-team`, "--org", org]);
          const { key } = JSON.parse(
            await cli([
              "keys",
              "create",
              "--account",
              `${org}-acct`,
              "--plan",
              "api-tier-4",
              "--team",
              `${org}-team`,
              "--json",
            ]),
          ) as { key: string };
          proxy.delay(delayMs);
          const started = performance.now();
          const answers = await Promise.all(
            Array.from({ length: STREAMS }, (_, i) =>
              streamOnce(urls[i % urls.length] as string, key, reply, reply),
            ),
          );
          // Elapsed time only widens the bound (the refill it allows): a slower machine never fails it.
          const seconds = (performance.now() - started) / 1000;
          proxy.delay(0);
          // What the bucket can hold by the burst's end: the limit and what refilled meanwhile.
          const room = limit + (limit / 60) * seconds;
          const admitted = answers.filter((answer) => answer.status === 200);
          const sent = admitted.reduce((sum, answer) => sum + answer.output, 0);
          const context = JSON.stringify({ limit, reply, delayMs, seconds: seconds.toFixed(2) });
          assert.ok(admitted.length <= Math.floor(room / reply), `${admitted.length} admitted: ${context}`);
          assert.ok(sent <= room, `${sent} output tokens sent: ${context}`);
          for (const refused of answers.filter((answer) => answer.status !== 200)) {
            assert.equal(refused.status, 429, `${refused.message} ${context}`);
            assertNoRoomShown(refused.message);
          }
          t.diagnostic(
            `limit ${limit}, replies of ${reply}, Redis +${delayMs} ms: ${admitted.length} admitted in ${seconds.toFixed(2)} s`,
          );
        },
      ),
      { numRuns: 5 },
    );
  });
});
