/**
 * Long windows survive a restart: the in-memory limiter starts empty, and the gateway replays
 * the ledger into it before its first request (DESIGN.md, decision 5).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { Redis } from "ioredis";
import { replayHorizon } from "../../src/enforcement/rebuild-windows.ts";
import { chargeWindow } from "../../src/limits/window.ts";
import { type LimitView, startTestGateway, type TestGateway, windowsOf } from "../helpers/gateway.ts";
import { deletePrefix, REDIS_URL, redisSkipReason, uniquePrefix } from "../helpers/redis.ts";

const HOUR = 3_600_000;

const ask = (server: TestGateway, tokens: number) =>
  new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 }).messages.create({
    model: "claude-sonnet-4-6",
    max_tokens: 20_000,
    messages: [{ role: "user", content: `sim:tokens=${tokens}` }],
  });

describe("windows rebuilt from the ledger at start", () => {
  // A Saturday, outside any weekday peak hours.
  const clock = { now: Date.UTC(2026, 6, 4, 12) };
  const servers: TestGateway[] = [];
  const start = async (restart?: { dataDir: string; key: string }) => {
    const server = await startTestGateway({
      clock: () => clock.now,
      plan: "pro",
      restart,
      // Long replies in little time: the test is about usage, not speed.
      configure: (config) => {
        for (const model of config.models)
          if (model.simulation) model.simulation = { ...model.simulation, decode_tokens_per_s: 1_000_000 };
      },
    });
    servers.push(server);
    return server;
  };
  after(async () => {
    for (const server of servers) await server.close();
    if (servers[0]) rmSync(servers[0].dataDir, { recursive: true, force: true });
  });

  test("5-hour and weekly use, and when they reset, are the same after a restart", async () => {
    const first = await start();
    for (let i = 0; i < 3; i++) await ask(first, 3_000);
    const before = await windowsOf(first);
    assert.ok(
      (before["5h"]?.remaining ?? 0) < (before["5h"]?.limit ?? 0),
      "the requests used the 5-hour window",
    );
    await first.close();

    clock.now += HOUR;
    const second = await start({ dataDir: first.dataDir, key: first.key });
    const after = await windowsOf(second);
    for (const name of ["5h", "week"]) {
      assert.equal(after[name]?.remaining, before[name]?.remaining, `${name} remaining`);
      assert.equal(after[name]?.resets_at, before[name]?.resets_at, `${name} resets when it did before`);
    }
    await second.close();

    // Six hours after the first request its 5-hour window has ended; the week has not.
    clock.now += 5 * HOUR;
    const third = await start({ dataDir: first.dataDir, key: first.key });
    const later = await windowsOf(third);
    assert.equal(later["5h"]?.remaining, later["5h"]?.limit, "a new 5-hour window");
    assert.equal(later.week?.remaining, before.week?.remaining, "the week still holds the usage");
    await third.close();
  });

  test("a key refused at its 5-hour limit is still refused after a restart", async () => {
    clock.now = Date.UTC(2026, 6, 11, 12);
    const first = await start();
    let refused: unknown;
    for (let i = 0; i < 200 && !refused; i++) {
      refused = await ask(first, 16_000).then(
        () => undefined,
        (error: unknown) => error,
      );
    }
    assert.ok(refused instanceof Anthropic.RateLimitError, "the 5-hour limit was reached");
    await first.close();
    const second = await start({ dataDir: first.dataDir, key: first.key });
    const again = await ask(second, 16_000).then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(again instanceof Anthropic.RateLimitError, "still refused after the restart");
    assert.match((again as Error).message, /5-hour limit reached/);
    await second.close();
  });
});

describe("replaying a window", () => {
  const spec = { kind: "window" as const, name: "5h", limit: 100, periodMs: 5 * HOUR };
  const out = { admitAtMs: 0, remaining: 0, resetAtMs: 0, a: 0, b: 0 };

  test("usage starts a window at its own time, adds within it, and starts a new one after it ends", () => {
    chargeWindow(Number.NaN, Number.NaN, spec, 1_000, 30, out);
    assert.deepEqual([out.a, out.b], [1_000, 30]);
    chargeWindow(1_000, 30, spec, 1_000 + HOUR, 90, out);
    assert.deepEqual([out.a, out.b], [1_000, 120], "over the limit: replayed usage is never refused");
    chargeWindow(1_000, 120, spec, 1_000 + 5 * HOUR, 10, out);
    assert.deepEqual([out.a, out.b], [1_000 + 5 * HOUR, 10]);
  });

  test("a charge of nothing starts no window", () => {
    chargeWindow(Number.NaN, Number.NaN, spec, 1_000, 0, out);
    assert.ok(Number.isNaN(out.a));
  });

  test("the horizon reaches a week back, or the month's start if that is earlier", () => {
    const midMonth = Date.UTC(2026, 6, 20);
    assert.equal(replayHorizon(midMonth), Date.UTC(2026, 6, 1));
    const earlyMonth = Date.UTC(2026, 6, 3);
    assert.equal(replayHorizon(earlyMonth), earlyMonth - 7 * 24 * HOUR);
  });
});

describe("a cold Redis is rebuilt from the ledger, once", async () => {
  const skip = await redisSkipReason();
  const admin = skip ? undefined : new Redis(REDIS_URL);
  const prefix = uniquePrefix("rebuild");
  const env = { REDIS_URL, HEADROOM_REDIS_PREFIX: prefix };
  const servers: TestGateway[] = [];
  const start = async (restart?: { dataDir: string; key: string }) => {
    const server = await startTestGateway({ env, plan: "pro", restart });
    servers.push(server);
    return server;
  };
  after(async () => {
    for (const server of servers) await server.close();
    if (servers[0]) rmSync(servers[0].dataDir, { recursive: true, force: true });
    if (admin) {
      await deletePrefix(admin, prefix);
      admin.disconnect();
    }
  });
  const seconds = (limit: LimitView | undefined) => Date.parse(limit?.resets_at ?? "") / 1000;

  test("usage survives Redis losing everything, and a warm restart does not count it twice", {
    skip,
  }, async () => {
    const first = await start();
    for (let i = 0; i < 3; i++) await ask(first, 3_000);
    const before = await windowsOf(first);
    assert.ok((before["5h"]?.remaining ?? 0) < (before["5h"]?.limit ?? 0));
    await first.close();

    await deletePrefix(admin as Redis, prefix);
    const second = await start({ dataDir: first.dataDir, key: first.key });
    const rebuilt = await windowsOf(second);
    for (const name of ["5h", "week"]) {
      assert.equal(
        rebuilt[name]?.remaining,
        before[name]?.remaining,
        `${name} remaining after Redis was emptied`,
      );
      // Redis started the window at its own clock, the ledger at the gateway's: within a second.
      assert.ok(Math.abs(seconds(rebuilt[name]) - seconds(before[name])) <= 1, `${name} reset`);
    }
    await second.close();

    const third = await start({ dataDir: first.dataDir, key: first.key });
    const warm = await windowsOf(third);
    assert.equal(warm["5h"]?.remaining, before["5h"]?.remaining, "Redis kept its state: no second replay");
    await third.close();
  });
});
