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
import { describe, test } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { REDIS_URL, redisScope } from "../helpers/redis.ts";

const STREAMS = 50;
const REPLY = 100;
/** Room for seven replies of REPLY tokens and half of an eighth. */
const LIMIT = 7 * REPLY + REPLY / 2;

async function organisationKey(server: TestGateway, org: string): Promise<string> {
  const { accounts } = server.gateway;
  await accounts.createOrganisation(org, { output_tokens_per_minute: LIMIT });
  await accounts.createTeam(`${org}-team`, org, {});
  const { key } = await accounts.createKey(`${org}-account`, "api-tier-4");
  assert.equal(await accounts.setAccountTeam(`${org}-account`, `${org}-team`), true);
  return key;
}

/** One streamed request: its status, the tokens it was sent, and a 429's message. */
async function stream(server: TestGateway, key: string, maxTokens: number, reply: number) {
  const response = await fetch(`${server.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: maxTokens,
      stream: true,
      messages: [{ role: "user", content: `sim:tokens=${reply}` }],
    }),
  });
  const text = await response.text();
  if (response.status !== 200) {
    const message = (JSON.parse(text) as { error: { message: string } }).error.message;
    return { status: response.status, output: 0, message };
  }
  const deltas = [...text.matchAll(/"output_tokens":(\d+)/g)].map((match) => Number(match[1]));
  return { status: 200, output: deltas.at(-1) ?? 0, message: "" };
}

/**
 * A refusal of the limit says what the request needed and what was left — never room — or,
 * with nothing left at all (a bucket in debt), that the limit is exceeded.
 */
function assertNoRoomShown(message: string): void {
  if (
    /^Rate limit of [\d,]+ output tokens per minute exceeded \(organisation [^)]+\); retry after \d+ s\.$/.test(
      message,
    )
  )
    return;
  const numbers = /needs ([\d,]+), ([\d,]+) left/.exec(message);
  assert.ok(numbers, `a refusal that names its numbers: ${message}`);
  const [needs, left] = [numbers[1], numbers[2]].map((value) => Number(String(value).replaceAll(",", "")));
  assert.ok((left as number) < (needs as number), `a refusal whose numbers show room: ${message}`);
}

async function fifty(gateways: TestGateway[], keys: string[], maxTokens: number, reply: number) {
  return Promise.all(
    Array.from({ length: STREAMS }, (_, i) =>
      stream(gateways[i % gateways.length] as TestGateway, keys[i % keys.length] as string, maxTokens, reply),
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
