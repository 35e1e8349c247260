/**
 * The request path's stages one at a time, on a real gateway's services (stores, limiter,
 * admission, ledger): what each decides and what it leaves in the exchange's state.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { KeyIdentity } from "../../src/accounts/account-store.ts";
import { HeadroomError } from "../../src/common/errors.ts";
import { Exchange } from "../../src/edge/exchange.ts";
import { limit } from "../../src/edge/stages/limit.ts";
import { ledgerRow } from "../../src/edge/stages/outcome.ts";
import { route } from "../../src/edge/stages/route.ts";
import { shed } from "../../src/edge/stages/shed.ts";
import type { MessagesRequest } from "../../src/protocol/anthropic.ts";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

const body = (model: string): MessagesRequest => ({
  model,
  max_tokens: 50,
  messages: [{ role: "user", content: "hello" }],
});

describe("the request path's stages", () => {
  let server: TestGateway;
  let identity: KeyIdentity;
  let next = 0;
  const exchange = (endpoint: "anthropic" | "openai" = "anthropic") =>
    new Exchange(server.gateway, `req_stage_${++next}`, identity, endpoint, false);

  before(async () => {
    server = await startTestGateway({ plan: "api-tier-1" });
    identity = (await server.gateway.identities.authenticate(server.key)) as KeyIdentity;
    assert.ok(identity);
  });
  after(() => server.stop());

  test("route: the model's entry, upstream and the plan's limits; an unknown model is a 404 naming it", () => {
    const state = exchange();
    const routed = route(state, body("claude-sonnet-4-6"));
    assert.equal(state.model?.requested, "claude-sonnet-4-6");
    assert.equal(routed.upstream.name, state.model?.upstream);
    assert.equal(routed.limits.planName, "api-tier-1");
    assert.throws(
      () => route(exchange(), body("no-such-model")),
      (error: unknown) =>
        error instanceof HeadroomError && error.code === "unknown_model" && error.param === "model",
    );
    void state.finish(200);
  });

  test("shed: takes a capacity slot it gives back at the outcome", async () => {
    const state = exchange();
    const routed = route(state, body("claude-sonnet-4-6"));
    shed(state, routed);
    assert.equal(typeof state.releaseCapacity, "function", "a slot was taken");
    await state.finish(200);
  });

  test("limit: a grant with its protocol's headers; a request past a limit refused as its 429", async () => {
    const granted = exchange();
    await limit(granted, route(granted, body("claude-sonnet-4-6")), body("claude-sonnet-4-6"));
    assert.ok(granted.admission, "admitted");
    assert.ok(granted.inputTokens > 0, "the prompt was estimated");
    assert.ok("anthropic-ratelimit-requests-limit" in granted.rateLimitHeaders);
    await granted.finish(200);
    const openai = exchange("openai");
    await limit(openai, route(openai, body("claude-sonnet-4-6")), body("claude-sonnet-4-6"));
    assert.ok("x-ratelimit-limit-requests" in openai.rateLimitHeaders);
    await openai.finish(200);
    // A prompt larger than a minute of the tier's input tokens: refused here, before any upstream.
    const huge: MessagesRequest = {
      ...body("claude-sonnet-4-6"),
      messages: [{ role: "user", content: "tokens ".repeat(1_000_000) }],
    };
    const refused = exchange();
    const routed = route(refused, huge);
    await assert.rejects(
      async () => limit(refused, routed, huge),
      (error: unknown) =>
        error instanceof HeadroomError &&
        error.code === "rate_limited" &&
        error.status === 429 &&
        error.dimension !== undefined &&
        error.headers["x-should-retry"] !== undefined,
    );
    assert.equal(refused.admission, undefined);
    await refused.finish(429);
  });

  test("outcome: once per exchange, one ledger row; only our own refusal names the limit that refused", async () => {
    const state = exchange();
    const routed = route(state, body("claude-sonnet-4-6"));
    await limit(state, routed, body("claude-sonnet-4-6"));
    const first = state.finish(200);
    assert.equal(state.finish(500), first, "the same promise: recorded once");
    await first;
    assert.ok(!server.gateway.inFlight.has(state), "let go of");
    await server.gateway.ledger.flush();
    const rows = await server.gateway.ledger.events({ account: identity.account, limit: 1000 });
    assert.equal(rows.filter((row) => row.request_id === state.requestId).length, 1);
    const ours = new HeadroomError("rate_limited", "no room", { dimension: "otpm" });
    const refused = exchange();
    route(refused, body("claude-sonnet-4-6"));
    assert.equal(ledgerRow(refused, 429, ours, "rate_limit_error", 1, "none").limited_by, "otpm");
    // Past our own grant, a 429 is the upstream's: it names no limit of ours.
    assert.equal(ledgerRow(state, 429, ours, "rate_limit_error", 1, "none").limited_by, null);
    await refused.finish(429, ours);
  });
});
