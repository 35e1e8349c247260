/**
 * Token limits under concurrency: fifty streams at once for one organisation against an
 * output-tokens-per-minute limit with room for k replies. The bound (docs/limiter.md, "Under
 * concurrency"): each admission takes its estimate atomically — in the process for the memory
 * store, in one Redis script across gateways — so at most floor(room / estimate) requests are
 * admitted however many arrive together, and what passes the limit is at most the admitted
 * requests' reply beyond their estimate (none when the estimate is the reply). Every refusal's
 * numbers show the room it lacked. The clock stands still, so no bucket refills mid-test.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";
import { assertNoRoomShown, streamOnce } from "../helpers/refusals.ts";
import { type FreezableProxy, startFreezableProxy } from "../helpers/tcp-proxy.ts";

const STREAMS = 50;
const REPLY = 100;
/** Room for seven replies of REPLY tokens and half of an eighth. */
const LIMIT = 7 * REPLY + REPLY / 2;

async function organisationKey(server: TestGateway, org: string, limit = LIMIT): Promise<string> {
  const { accounts } = server.gateway;
  await accounts.createOrganisation(org, { output_tokens_per_minute: limit });
  await accounts.createTeam(`${org}-team`, org, {});
  const { key } = await accounts.createKey(`${org}-account`, "api-tier-4");
  assert.equal(await accounts.setAccountTeam(`${org}-account`, `${org}-team`), true);
  return key;
}

async function fifty(
  gateways: TestGateway[],
  keys: string[],
  maxTokens: number,
  reply: number,
  streams = STREAMS,
) {
  return Promise.all(
    Array.from({ length: streams }, (_, i) =>
      streamOnce(
        (gateways[i % gateways.length] as TestGateway).url,
        keys[i % keys.length] as string,
        maxTokens,
        reply,
      ),
    ),
  );
}

async function gatewaysOn(
  count: number,
  env: NodeJS.ProcessEnv,
  clock: () => number,
): Promise<TestGateway[]> {
  const gateways: TestGateway[] = [];
  for (let i = 0; i < count; i++) gateways.push(await startTestGateway({ env, clock, plan: "api-tier-4" }));
  return gateways;
}

const { skip: skipRedis, prefix } = await redisScope("overshoot");

for (const store of ["memory", "redis"] as const) {
  describe(`${STREAMS} concurrent streams against a nearly spent output-token limit (${store})`, {
    skip: store === "redis" ? skipRedis : undefined,
  }, () => {
    const count = store === "memory" ? 1 : 3;
    const env: NodeJS.ProcessEnv = store === "memory" ? {} : { REDIS_URL, HEADROOM_REDIS_PREFIX: prefix };

    test(`estimate = reply: exactly floor(room / estimate) admitted across ${count} gateway(s), nothing past the limit`, async (t) => {
      const clock = () => Date.UTC(2026, 11, 7, 12);
      const gateways = await gatewaysOn(count, env, clock);
      try {
        const keys = await Promise.all(gateways.map((server) => organisationKey(server, "org-exact")));
        // max_tokens = the reply, under the default estimate: each request is charged exactly its reply.
        const answers = await fifty(gateways, keys, REPLY, REPLY);
        const admitted = answers.filter((answer) => answer.status === 200);
        assert.equal(
          admitted.length,
          Math.floor(LIMIT / REPLY),
          JSON.stringify(answers.map((a) => a.status)),
        );
        const sent = admitted.reduce((sum, answer) => sum + answer.output, 0);
        assert.ok(sent <= LIMIT, `${sent} output tokens sent against a limit of ${LIMIT}`);
        t.diagnostic(`${admitted.length} of ${STREAMS} admitted, ${sent} output tokens against ${LIMIT}`);
        for (const refused of answers.filter((answer) => answer.status !== 200)) {
          assert.equal(refused.status, 429, refused.message);
          assertNoRoomShown(refused.message);
        }
      } finally {
        for (const server of gateways) await server.stop();
      }
    });

    test("replies longer than their estimate: the overshoot is at most the admitted requests' excess", async (t) => {
      const clock = () => Date.UTC(2026, 11, 7, 13);
      const gateways = await gatewaysOn(count, env, clock);
      try {
        const keys = await Promise.all(gateways.map((server) => organisationKey(server, "org-long")));
        // A first request teaches no average yet: each is admitted on the default estimate (256,
        // capped by max_tokens) and then sends more, as an agent's long reply does.
        const estimate = Math.min(256, 4 * REPLY);
        const reply = 4 * REPLY;
        const answers = await fifty(gateways, keys, 4 * REPLY, reply);
        const admitted = answers.filter((answer) => answer.status === 200);
        // Admissions are bounded by the room at the estimate, never by the stream count.
        assert.ok(
          admitted.length >= 1 && admitted.length <= Math.ceil(LIMIT / estimate),
          `${admitted.length} admitted`,
        );
        const sent = admitted.reduce((sum, answer) => sum + answer.output, 0);
        const bound = LIMIT + admitted.length * (reply - estimate);
        assert.ok(sent <= bound, `${sent} sent, bound ${bound}`);
        t.diagnostic(
          `${admitted.length} of ${STREAMS} admitted, ${sent} output tokens against ${LIMIT} (bound ${bound})`,
        );
        for (const refused of answers.filter((answer) => answer.status !== 200))
          assertNoRoomShown(refused.message);
      } finally {
        for (const server of gateways) await server.stop();
      }
    });
  });
}

/**
 * The same through a link to Redis that holds every reply 1–15 ms (a slow network or a busy
 * Redis), for random limits and reply sizes: admissions stay exactly what the room allows and
 * no refusal shows room. (`npm run test:stress` runs it beside a CPU hog too.)
 */
describe("under Redis latency, for any limit and reply size (property)", { skip: skipRedis }, () => {
  let proxy: FreezableProxy;
  let gateways: TestGateway[] = [];
  const clock = () => Date.UTC(2026, 11, 7, 14);
  before(async () => {
    proxy = await startFreezableProxy(new URL(REDIS_URL));
    gateways = await gatewaysOn(3, { REDIS_URL: proxy.url, HEADROOM_REDIS_PREFIX: `${prefix}slow:` }, clock);
  });
  after(async () => {
    for (const server of gateways) await server.stop();
    await proxy.close();
  });

  test("admitted = floor(limit / reply) and every refusal lacks room", async (t) => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 20, max: 200 }),
        fc.integer({ min: 1, max: 15 }),
        async (fits, reply, delayMs) => {
          proxy.delay(delayMs);
          const limit = fits * reply + Math.floor(reply / 2);
          const org = `org-prop-${run++}`;
          const keys = await Promise.all(gateways.map((server) => organisationKey(server, org, limit)));
          const answers = await fifty(gateways, keys, reply, reply, 30);
          const admitted = answers.filter((answer) => answer.status === 200);
          assert.equal(admitted.length, fits, JSON.stringify({ limit, reply, delayMs }));
          assert.ok(admitted.reduce((sum, answer) => sum + answer.output, 0) <= limit);
          for (const refused of answers.filter((answer) => answer.status !== 200)) {
            assert.equal(refused.status, 429, refused.message);
            assertNoRoomShown(refused.message);
          }
          t.diagnostic(
            `limit ${limit}, replies of ${reply}, Redis +${delayMs} ms: ${admitted.length} admitted`,
          );
        },
      ),
      { numRuns: 6 },
    );
  });
});
