import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import { compileErrors, validate } from "@readme/openapi-parser";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import type { PopulationSpec } from "../../src/traffic/population.ts";
import { drivePopulation, recordedUsage, startTestGateway, type TestGateway } from "../helpers/gateway.ts";
import { waitFor } from "../helpers/wait.ts";

const ADMIN = "hr-admin-test-token-0123456789";

describe("the admin API", () => {
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;
  /** A call with the admin token (or the given Authorization header); JSON in and out. */
  const call = async (method: string, path: string, body?: unknown, authorization = `Bearer ${ADMIN}`) => {
    const response = await fetch(`${server.url}/admin/v1${path}`, {
      method,
      headers: {
        ...(authorization ? { authorization } : {}),
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return {
      status: response.status,
      body: (await response.json()) as Record<string, unknown> & { data?: unknown[] },
    };
  };

  // The planner's folder: a scenario that fails fast, a fleet beside it, and a link leading out.
  const scenarios = mkdtempSync(join(tmpdir(), "headroom-scenarios-"));
  writeFileSync(join(scenarios, "broken.yaml"), "fleet: missing-fleet.yaml\npolicy: nope.yaml\n");
  writeFileSync(join(scenarios, "quick.yaml"), "fleet: f.yaml\n");
  writeFileSync(join(scenarios, "colossus-fleet.yaml"), "sites: []\n");
  symlinkSync("/etc/passwd", join(scenarios, "outside.yaml"));

  before(async () => {
    server = await startTestGateway({
      env: { HEADROOM_ADMIN_TOKEN: ADMIN },
      clock: () => clock.now,
      configure: (config) => {
        config.planner = { scenarios_dir: scenarios };
      },
    });
  });
  after(async () => {
    await server.stop();
    rmSync(scenarios, { recursive: true, force: true });
  });

  test("401 without a token or with a wrong one, 403 with a customer key", async () => {
    const none = await call("GET", "/keys", undefined, "");
    assert.equal(none.status, 401);
    assert.match(
      String((none.body.error as { message: string }).message),
      /admin token as Authorization: Bearer/,
    );
    assert.equal((await call("GET", "/keys", undefined, "Bearer hr-admin-wrong")).status, 401);
    const customer = await call("GET", "/keys", undefined, `Bearer ${server.key}`);
    assert.equal(customer.status, 403);
    assert.equal((customer.body.error as { type: string }).type, "permission_error");
  });

  test("keys: created (the secret once), listed without it, used, revoked", async () => {
    const created = await call("POST", "/keys", { account: "ops-alice", plan: "api-tier-2" });
    assert.equal(created.status, 201);
    const secret = String(created.body.key);
    assert.match(secret, /^sk-hr-/);
    const listed = await call("GET", "/keys?account=ops-alice");
    assert.deepEqual(
      (listed.body.data as Array<Record<string, unknown>>).map((entry) => [
        entry.id,
        entry.plan,
        entry.revoked_at,
      ]),
      [[created.body.id, "api-tier-2", null]],
    );
    assert.ok(!JSON.stringify(listed.body).includes(secret), "the listing never shows the secret");
    const client = new Anthropic({ baseURL: server.url, apiKey: secret, maxRetries: 0 });
    await client.messages.create({
      model: "claude-haiku-4-5",
      max_tokens: 5,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal((await call("DELETE", `/keys/${created.body.id}`)).status, 200);
    assert.equal((await call("DELETE", `/keys/${created.body.id}`)).status, 404, "already revoked");
    // Identities are remembered for a second: the revocation is seen once that has passed.
    await waitFor(
      () =>
        client.messages
          .create({ model: "claude-haiku-4-5", max_tokens: 5, messages: [{ role: "user", content: "hi" }] })
          .then(
            () => false,
            (error: unknown) => error instanceof Anthropic.AuthenticationError,
          ),
      "the revoked key to be refused",
    );
  });

  test("organisations, teams and key limits round-trip, and validation names the field", async () => {
    assert.equal(
      (await call("POST", "/organisations", { name: "acme", limits: { monthly_budget_usd: 100 } })).status,
      201,
    );
    assert.equal((await call("POST", "/organisations", { name: "acme" })).status, 409);
    assert.equal((await call("POST", "/teams", { name: "infra", organisation: "acme" })).status, 201);
    const patched = await call("PATCH", "/teams/infra", { limits: { requests_per_minute: 9 } });
    assert.deepEqual(patched.body, { name: "infra", limits: { requests_per_minute: 9 } });
    const teams = await call("GET", "/teams?organisation=acme");
    assert.deepEqual(
      (teams.body.data as Array<Record<string, unknown>>).map((team) => [team.name, team.limits]),
      [["infra", { requests_per_minute: 9 }]],
    );
    const key = await call("POST", "/keys", { account: "ops-bob", plan: "api-tier-1", team: "infra" });
    assert.equal(key.status, 201);
    const identity = await server.gateway.accounts.authenticate(String(key.body.key));
    assert.equal(identity?.team, "infra");
    assert.equal((await call("PATCH", "/keys/key_nope", { limits: {} })).status, 404);
    const bad = await call("POST", "/teams", {
      name: "x",
      organisation: "acme",
      limits: { requests_per_minute: -1 },
    });
    assert.equal(bad.status, 400);
    assert.match(String((bad.body.error as { message: string }).message), /^limits\.requests_per_minute: /);
    const unknownPlan = await call("POST", "/keys", { account: "ops-carol", plan: "platinum" });
    assert.equal(unknownPlan.status, 400);
    assert.match(
      String((unknownPlan.body.error as { message: string }).message),
      /^Unknown plan platinum; known plans: pro, max-5x, /,
    );
    const account = await call("PATCH", "/accounts/ops-bob", { plan: "api-tier-3", team: null });
    assert.equal(account.status, 200);
    assert.equal((await server.gateway.accounts.authenticate(String(key.body.key)))?.plan, "api-tier-3");
  });

  test("policies: the one in force, a new one scheduled, and what it would change", async () => {
    const before = await call("GET", "/policies");
    assert.equal(before.body.in_force, "builtin");
    const next = structuredClone(defaultPolicy) as unknown as Record<string, unknown> & {
      plans: Record<string, Record<string, unknown>>;
    };
    next.version = "2026-08";
    next.effective_from = "2026-08-01T00:00:00Z";
    (next.plans.pro as { session_budget_usd: number }).session_budget_usd *= 2;
    const scheduled = await call("POST", "/policies", next);
    assert.equal(scheduled.status, 201);
    assert.equal(scheduled.body.status, "scheduled");
    assert.equal((await call("POST", "/policies", next)).status, 409, "a version is never overwritten here");
    const listed = await call("GET", "/policies");
    assert.equal(listed.body.in_force, "builtin", "the built-in policy stays in force until August");
    assert.deepEqual(
      (listed.body.data as Array<Record<string, unknown>>).map((entry) => [entry.version, entry.status]),
      [["2026-08", "scheduled"]],
    );
    const diff = await call("GET", "/policies/diff");
    assert.equal(diff.body.from, "builtin");
    assert.equal(diff.body.to, "2026-08");
    assert.deepEqual(
      (diff.body.changes as Array<{ path: string }>).map((change) => change.path),
      ["plans.pro.session_budget_usd"],
    );
    const invalid = await call("POST", "/policies", { ...next, version: "bad version!" });
    assert.equal(invalid.status, 400);
  });

  test("policy review: a draft takes no effect until approved, then at its date with no restart; every step audited; customer keys refused", async () => {
    const limitsOf = async () => {
      const response = await fetch(`${server.url}/v1/headroom/limits`, {
        headers: { authorization: `Bearer ${server.key}` },
      });
      const body = (await response.json()) as {
        policy: string;
        limits: Array<{ name: string; limit: number }>;
      };
      return { policy: body.policy, fiveHour: body.limits.find((limit) => limit.name === "5h")?.limit };
    };
    const planned = structuredClone(defaultPolicy) as unknown as Record<string, unknown> & {
      plans: Record<string, Record<string, unknown>>;
    };
    planned.version = "reviewed-2026-07-15";
    planned.effective_from = "2026-07-15T00:00:00Z";
    (planned.plans.pro as { session_budget_usd: number }).session_budget_usd *= 3;
    const customer = `Bearer ${server.key}`;
    assert.equal((await call("POST", "/policies/drafts", { policy: planned }, customer)).status, 403);
    const proposed = await call("POST", "/policies/drafts", { policy: planned, source: "plan-report" });
    assert.equal(proposed.status, 201, JSON.stringify(proposed.body));
    const draftId = String(proposed.body.id);
    assert.equal(proposed.body.status, "draft");
    assert.equal(
      (await call("POST", "/policies/drafts", { policy: planned })).status,
      409,
      "one draft per version",
    );
    const before = await limitsOf();
    clock.now = Date.UTC(2026, 6, 20);
    assert.deepEqual(await limitsOf(), before, "an unapproved draft never takes effect, even past its date");
    clock.now = Date.UTC(2026, 6, 1, 12);
    for (const path of [`/policies/drafts/${draftId}/diff`, "/policies/drafts", "/policies/audit"])
      assert.equal((await call("GET", path, undefined, customer)).status, 403, path);
    const diff = await call("GET", `/policies/drafts/${draftId}/diff`);
    assert.equal(diff.body.against, "builtin");
    assert.deepEqual(
      (diff.body.changes as Array<{ path: string; margin: string }>).map((change) => change.path),
      ["plans.pro.session_budget_usd"],
    );
    assert.equal((await call("POST", `/policies/drafts/${draftId}/approve`, {}, customer)).status, 403);
    const approved = await call("POST", `/policies/drafts/${draftId}/approve`, {});
    assert.equal(approved.status, 200, JSON.stringify(approved.body));
    assert.equal(approved.body.status, "approved");
    assert.equal((await call("POST", `/policies/drafts/${draftId}/reject`, {})).status, 409, "decided once");
    assert.equal((await call("POST", "/policies/drafts/draft_nope/approve", {})).status, 404);
    // Scheduled, not yet in force; at its date it is, in the same process.
    assert.deepEqual(await limitsOf(), before);
    clock.now = Date.UTC(2026, 6, 20);
    const after = await limitsOf();
    clock.now = Date.UTC(2026, 6, 1, 12);
    assert.equal(after.policy, "reviewed-2026-07-15");
    assert.ok(before.fiveHour && after.fiveHour && Math.abs(after.fiveHour - 3 * before.fiveHour) < 1e-9);
    const audit = await call("GET", "/policies/audit");
    const steps = (audit.body.data as Array<Record<string, unknown>>)
      .filter((entry) => entry.version === "reviewed-2026-07-15")
      .map((entry) => [entry.action, entry.actor, entry.draft_id, entry.source]);
    assert.deepEqual(steps, [
      ["propose", "admin-api", draftId, "plan-report"],
      ["approve", "admin-api", draftId, "plan-report"],
    ]);
  });

  test("usage from the ledger and the live state", async () => {
    const client = new Anthropic({ baseURL: server.url, apiKey: server.key, maxRetries: 0 });
    const { response } = await client.messages
      .create({
        model: "claude-sonnet-4-6",
        max_tokens: 20,
        messages: [{ role: "user", content: "sim:tokens=11" }],
      })
      .withResponse();
    const recorded = await recordedUsage(server, response.headers.get("request-id"));
    const usage = await call("GET", "/usage?by=account,model&account=test");
    const row = (usage.body.data as Array<Record<string, unknown>>).find(
      (entry) => entry.model === "claude-sonnet-4-6",
    );
    assert.equal(row?.output_tokens, recorded.output_tokens);
    assert.equal((await call("GET", "/usage?by=planet")).status, 400);
    const live = await call("GET", "/live");
    assert.equal(live.status, 200);
    assert.equal(live.body.limiter, "memory");
    assert.deepEqual(live.body.ledger, { pending: 0, saturated: false, unavailable: null });
    assert.ok(
      (live.body.upstreams as Array<{ name: string }>).some((upstream) => upstream.name === "simulated"),
    );
  });

  test("the planner reads only its scenarios folder, and what it refuses says nothing of other files", async () => {
    const message = (answer: { body: Record<string, unknown> }) =>
      String((answer.body.error as { message: string }).message);
    const refusals = [];
    for (const scenario of [
      "/etc/passwd",
      "/etc/shadow",
      "/nonexistent",
      "../package.json",
      "../../../../etc/hosts.yaml",
      "no/such/scenario.yaml",
      "outside.yaml", // a symbolic link in the folder pointing outside it
      "colossus-fleet", // not a .yaml name
    ]) {
      const answer = await call("POST", "/plans", { scenario });
      assert.equal(answer.status, 400, scenario);
      refusals.push(message(answer).replace(scenario, "NAME"));
      assert.match(message(answer), /^scenario: no scenario ".*" in the planner's scenarios folder/);
    }
    // Every refusal reads alike: existence, type and contents of other files do not show.
    assert.equal(new Set(refusals).size, 1, refusals.join("\n"));
    const listed = await call("GET", "/plans/scenarios");
    const names = (listed.body.data as Array<{ name: string }>).map((entry) => entry.name);
    assert.ok(names.includes("quick.yaml") && names.includes("broken.yaml"), names.join(", "));
    assert.ok(!names.some((name) => name.includes("fleet")), "fleets are not scenarios");
  });

  test("one plan runs at a time: a second while one runs gets 409", async () => {
    const message = (answer: { body: Record<string, unknown> }) =>
      String((answer.body.error as { message: string }).message);
    // Two at once: whichever arrives first runs (its process takes a second to start), the
    // other is refused while it does.
    const answers = await Promise.all([
      call("POST", "/plans", { scenario: "broken.yaml" }),
      call("POST", "/plans", { scenario: "broken.yaml" }),
    ]);
    const statuses = answers.map((answer) => answer.status).sort();
    assert.deepEqual(statuses, [400, 409]);
    const busy = answers.find((answer) => answer.status === 409) as (typeof answers)[number];
    const ran = answers.find((answer) => answer.status === 400) as (typeof answers)[number];
    assert.match(message(busy), /^A plan is already running \(broken\.yaml, started \d+ s ago\)/);
    assert.match(message(ran), /^The plan failed: /);
    // Once it ended, the next one runs (and fails the same way, not 409).
    assert.equal((await call("POST", "/plans", { scenario: "broken.yaml" })).status, 400);
  });

  test("the planner plans from this gateway's ledger: refused without traffic, measured figures with it", async () => {
    const message = (answer: { body: Record<string, unknown> }) =>
      String((answer.body.error as { message: string }).message);
    for (const body of [{}, { scenario: "quick.yaml", from_ledger: { days: 1 } }]) {
      const answer = await call("POST", "/plans", body);
      assert.equal(answer.status, 400);
      assert.match(message(answer), /give either scenario .* or from_ledger/);
    }
    clock.now += 30 * 86_400_000; // a day of the ledger with nothing in it
    const empty = await call("POST", "/plans", { from_ledger: { days: 1 } });
    assert.equal(empty.status, 400);
    assert.match(message(empty), /no subscriber traffic in the last 1 day\(s\).*headroom traffic/);
    // A day of a small population (subscribers on two plans, office hours) through the gateway.
    const start = clock.now;
    const spec: PopulationSpec = {
      plans: { pro: 24, "max-5x": 8 },
      sigma: 0.8,
      outputTokens: 80,
      requestsPerHour: 1,
      mix: {
        pro: { "claude-sonnet-4-6": 0.8, "claude-opus-4-7": 0.2 },
        "max-5x": { "claude-sonnet-4-6": 0.5, "claude-opus-4-7": 0.5 },
      },
      hourly: Array.from({ length: 24 }, (_, hour) => (hour >= 9 && hour < 17 ? 0.6 : 0)),
      days: 1,
      startMs: start,
      seed: 11,
    };
    const statuses = await drivePopulation(server, spec, clock, "ledger-");
    assert.deepEqual(Object.keys(statuses), ["200"], JSON.stringify(statuses));
    clock.now = start + 86_400_000 - 60_000;
    const planned = await call("POST", "/plans", { from_ledger: { days: 1 } });
    assert.equal(planned.status, 200, JSON.stringify(planned.body).slice(0, 300));
    const plan = planned.body.plan as { demand_provenance: Record<string, string> };
    assert.equal(plan.demand_provenance["plans.pro"], "measured", "the key's plan is measured");
    assert.equal(plan.demand_provenance.time_zone, "stated");
    const proposal = planned.body.proposal as { source: string; policy: { version: string } };
    assert.match(proposal.source, /this gateway's ledger, last 1 day/);
    assert.ok(proposal.policy.version.length > 0);
  });

  test("without a fleet configured, /fleet says how to configure one", async () => {
    const fleet = await call("GET", "/fleet");
    assert.equal(fleet.status, 404);
    assert.match(String((fleet.body.error as { message: string }).message), /capacity\.fleet/);
  });

  test("the OpenAPI document is valid OpenAPI 3.1 and lists every route", async () => {
    const response = await fetch(`${server.url}/admin/v1/openapi.json`);
    assert.equal(response.status, 200);
    const document = (await response.json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(document.openapi, "3.1.0");
    const result = await validate(structuredClone(document) as never);
    assert.ok(result.valid, compileErrors(result));
    assert.deepEqual(Object.keys(document.paths["/admin/v1/keys"] ?? {}).sort(), ["get", "post"]);
    assert.deepEqual(Object.keys(document.paths["/admin/v1/keys/{id}"] ?? {}).sort(), ["delete", "patch"]);
    const teams = document.paths["/admin/v1/teams"] as
      | { post: { requestBody: { content: Record<string, { schema: { required: string[] } }> } } }
      | undefined;
    const body = teams?.post.requestBody.content["application/json"]?.schema;
    assert.deepEqual(body?.required.sort(), ["name", "organisation"], "the schema the server validates with");
  });
});

describe("the admin token when none is set", () => {
  test("is generated at the first start, only its hash is stored, and a restart does not print it again", async () => {
    const first = await startTestGateway();
    const token = first.gateway.adminToken.generated;
    assert.match(token ?? "", /^hr-admin-/);
    assert.equal(first.gateway.adminToken.accepts(token as string), true);
    const stored = await first.gateway.stores.settings.get("admin_token_sha256");
    assert.ok(stored && !stored.includes(token as string), "the token itself is not stored");
    const { dataDir, key } = first;
    await first.close();
    const again = await startTestGateway({ restart: { dataDir, key } });
    try {
      assert.equal(again.gateway.adminToken.generated, undefined);
      assert.equal(again.gateway.adminToken.accepts(token as string), true);
      const response = await fetch(`${again.url}/admin/v1/live`, {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(response.status, 200);
    } finally {
      await again.stop();
    }
  });
});

describe("the admin API's fleet view", () => {
  test("pools now, capacity at every change, an orbital site's GPUs over one orbit", async () => {
    const server = await startTestGateway({
      env: { HEADROOM_ADMIN_TOKEN: ADMIN },
      configure(config) {
        config.capacity = { fleet: resolve("examples/colossus-fleet.yaml"), share: 0.0001 };
      },
    });
    try {
      const response = await fetch(`${server.url}/admin/v1/fleet`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      assert.equal(response.status, 200);
      const fleet = (await response.json()) as {
        pools: Array<{ site: string }>;
        timeline: Array<{ at: string; tokens_per_second: Record<string, number> }>;
        orbits: Array<{ site: string; samples: Array<{ gpus_online: number }> }>;
      };
      assert.ok(fleet.pools.some((pool) => pool.site === "colossus-1"));
      assert.ok(fleet.timeline.length >= 3, "before the fleet, and at each site or deal joining");
      const first = fleet.timeline[0]?.tokens_per_second.opus ?? 0;
      const last = fleet.timeline.at(-1)?.tokens_per_second.opus ?? 0;
      assert.ok(last > first, "capacity grows as sites join");
      const orbit = fleet.orbits.find((entry) => entry.site === "orbital-1");
      assert.equal(orbit?.samples.length, 121);
      assert.ok(
        orbit?.samples.every((sample) => sample.gpus_online > 0),
        "a dawn-dusk orbit is always sunlit",
      );
    } finally {
      await server.stop();
    }
  });
});

describe("the admin API's accounts view", () => {
  const clock = { now: Date.UTC(2026, 6, 1, 12) };
  let server: TestGateway;
  before(async () => {
    server = await startTestGateway({ env: { HEADROOM_ADMIN_TOKEN: ADMIN }, clock: () => clock.now });
  });
  after(() => server.stop());

  test("an account's windows cover every family served, each once: a budget of one family's own is listed too", async () => {
    // A policy in force now whose Pro plan has a weekly budget for Haiku of its own.
    const policy = structuredClone(defaultPolicy) as unknown as Record<string, unknown> & {
      plans: Record<string, { weekly_family_budgets_usd: Record<string, number> }>;
    };
    policy.version = "2026-07-haiku";
    policy.effective_from = "2026-06-01T00:00:00Z";
    (policy.plans.pro as { weekly_family_budgets_usd: Record<string, number> }).weekly_family_budgets_usd = {
      ...policy.plans.pro?.weekly_family_budgets_usd,
      haiku: 5,
    };
    const stored = await fetch(`${server.url}/admin/v1/policies`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify(policy),
    });
    assert.equal(stored.status, 201, await stored.text());
    await server.gateway.policies.refresh();
    const identity = await server.gateway.identities.authenticate(server.key);
    assert.ok(identity);
    const windowNames = async (family: string) => {
      const { limits, decision } = await server.gateway.enforcer.peek(identity, family);
      return decision.dimensions
        .filter((_, index) => limits.dimensions[index]?.kind === "window")
        .map((dimension) => dimension.name);
    };
    const sonnet = new Set(await windowNames("sonnet"));
    const ownToHaiku = (await windowNames("haiku")).filter((name) => !sonnet.has(name));
    assert.ok(ownToHaiku.length > 0, "the policy gives Haiku a window Sonnet does not have");
    const response = await fetch(`${server.url}/admin/v1/accounts?search=test`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    assert.equal(response.status, 200);
    const { data } = (await response.json()) as {
      data: Array<{ account: string; windows: Array<{ name: string }> }>;
    };
    const names = (data.find((entry) => entry.account === "test")?.windows ?? []).map(
      (window) => window.name,
    );
    assert.equal(new Set(names).size, names.length, `each window once: ${names.join(", ")}`);
    for (const name of [...sonnet, ...ownToHaiku])
      assert.ok(names.includes(name), `${name} in ${names.join(", ")}`);
  });
});
