/**
 * The contract both durable engines pass (SQLite, PostgreSQL): accounts and keys, dated
 * policies, and the ledger, each also seen from a second connection as another gateway or
 * a CLI command in another terminal would.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { type Policy, policySchema } from "../../src/plans/schema.ts";
import type { Stores } from "../../src/stores/store.ts";

/** Opens the stores of one location; each call is another connection to it. */
export type OpenStores = () => Promise<Stores>;
/** A new, empty location (a data directory, a PostgreSQL schema) for one test. */
export type NewLocation = () => OpenStores;

const dated = (version: string, from: string): Policy =>
  policySchema.parse({ ...defaultPolicy, version, effective_from: from, description: version });

export const usageEvent = (overrides: Partial<UsageEvent>): UsageEvent => ({
  at_ms: 1_000,
  request_id: "req",
  account: "alice",
  key_id: "key_a",
  model: "claude-sonnet-4-6",
  endpoint: "anthropic",
  streamed: false,
  status: 200,
  error_type: null,
  stop_reason: "end_turn",
  input_tokens: 10,
  output_tokens: 20,
  cache_creation_input_tokens: 3,
  cache_read_input_tokens: 4,
  cache_creation_1h_input_tokens: 1,
  ttft_ms: 12.5,
  duration_ms: 40.25,
  on_credits: false,
  limited_by: null,
  billing: "full",
  ...overrides,
});

async function collect<T>(items: Iterable<T> | AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

export function describeStoreContract(
  name: string,
  newLocation: NewLocation,
  options: { skip?: string | undefined } = {},
): void {
  describe(`durable store contract: ${name}`, { skip: options.skip }, () => {
    test("keys: an account is made with its first key; later keys may carry their own plan", async () => {
      const open = newLocation();
      const stores = await open();
      const { accounts } = stores;
      await assert.rejects(accounts.createKey("nobody", undefined), /does not exist yet; give --plan/);
      const first = await accounts.createKey("alice", "pro", new Date("2026-05-01T00:00:00Z"));
      assert.match(first.key, /^sk-hr-/);
      assert.equal(first.plan, "pro");
      const second = await accounts.createKey("alice", "max-5x", new Date("2026-05-02T00:00:00Z"));
      assert.equal(second.plan, "max-5x", "a key's own plan overrides the account's");
      const third = await accounts.createKey("alice", undefined, new Date("2026-05-03T00:00:00Z"));
      assert.equal(third.plan, "pro");

      assert.deepEqual(await accounts.authenticate(first.key), {
        keyId: first.id,
        account: "alice",
        plan: "pro",
        creditsCapUsd: null,
        team: null,
        organisation: null,
        levels: [],
      });
      assert.equal((await accounts.authenticate(second.key))?.plan, "max-5x");
      assert.equal(await accounts.authenticate("sk-hr-not-a-key"), undefined);

      const listed = await accounts.listKeys("alice");
      assert.deepEqual(
        listed.map((key) => [key.id, key.plan, key.revoked_at]),
        [first, second, third].map((key) => [key.id, key.plan, null]),
        "in the order they were made",
      );
      assert.ok(
        listed.every((key) => !JSON.stringify(key).includes(first.key)),
        "secrets are never listed",
      );

      assert.equal(await accounts.revokeKey(first.id), true);
      assert.equal(await accounts.revokeKey(first.id), false, "already revoked");
      assert.equal(await accounts.authenticate(first.key), undefined);
      assert.equal(await accounts.isRevoked(first.key), true);
      assert.equal(await accounts.isRevoked(second.key), false);
      assert.equal(
        (await accounts.identityOfKey(first.id))?.account,
        "alice",
        "revoked keys still name their account",
      );

      assert.equal(await accounts.updateAccount("alice", { plan: "max-20x", creditsCapUsd: 50 }), true);
      assert.deepEqual(await accounts.identityOfKey(third.id), {
        keyId: third.id,
        account: "alice",
        plan: "max-20x",
        creditsCapUsd: 50,
        team: null,
        organisation: null,
        levels: [],
      });
      assert.equal(await accounts.updateAccount("alice", { creditsCapUsd: null }), true);
      assert.equal((await accounts.identityOfKey(third.id))?.creditsCapUsd, null);
      assert.equal(await accounts.updateAccount("ghost", { plan: "pro" }), false);
      assert.equal(await accounts.updateAccount("alice", {}), true, "no change, but the account exists");

      const other = await open();
      assert.equal(
        (await other.accounts.authenticate(second.key))?.account,
        "alice",
        "another connection sees it",
      );
      await other.close();
      await stores.close();
    });

    test("organisations and teams: made once, listed, limits set; an identity carries every level's limits", async () => {
      const open = newLocation();
      const stores = await open();
      const { accounts } = stores;
      await accounts.createOrganisation(
        "acme",
        { monthly_budget_usd: 1000 },
        new Date("2026-05-01T00:00:00Z"),
      );
      await assert.rejects(accounts.createOrganisation("acme", {}), /already exists/);
      await assert.rejects(
        accounts.createTeam("infra", "nowhere", {}),
        /Organisation "nowhere" does not exist/,
      );
      await accounts.createTeam(
        "infra",
        "acme",
        { requests_per_minute: 100 },
        new Date("2026-05-02T00:00:00Z"),
      );
      await accounts.createTeam("web", "acme", {}, new Date("2026-05-03T00:00:00Z"));
      await assert.rejects(accounts.createTeam("web", "acme", {}), /Team "web" already exists/);
      assert.deepEqual(
        (await accounts.listOrganisations()).map((org) => [org.name, org.limits]),
        [["acme", { monthly_budget_usd: 1000 }]],
      );
      assert.deepEqual(
        (await accounts.listTeams("acme")).map((team) => [team.name, team.organisation, team.limits]),
        [
          ["infra", "acme", { requests_per_minute: 100 }],
          ["web", "acme", {}],
        ],
      );
      const key = await accounts.createKey("bob", "api-tier-1");
      assert.equal(await accounts.setAccountTeam("bob", "nowhere"), false);
      assert.equal(await accounts.setAccountTeam("nobody", "infra"), false);
      assert.equal(await accounts.setAccountTeam("bob", "infra"), true);
      assert.equal(await accounts.setLimits("key", key.id, { output_tokens_per_minute: 500 }), true);
      assert.equal(await accounts.setLimits("team", "ghost", {}), false);
      const identity = await accounts.authenticate(key.key);
      assert.equal(identity?.team, "infra");
      assert.equal(identity?.organisation, "acme");
      assert.deepEqual(identity?.levels, [
        { level: "organisation", name: "acme", limits: { monthly_budget_usd: 1000 } },
        { level: "team", name: "infra", limits: { requests_per_minute: 100 } },
        { level: "key", name: key.id, limits: { output_tokens_per_minute: 500 } },
      ]);
      assert.deepEqual(await accounts.identityOfKey(key.id), identity);
      assert.equal(await accounts.setLimits("organisation", "acme", {}), true);
      assert.equal(await accounts.setAccountTeam("bob", null), true);
      const outside = await accounts.authenticate(key.key);
      assert.equal(outside?.organisation, null);
      assert.deepEqual(outside?.levels, [
        { level: "key", name: key.id, limits: { output_tokens_per_minute: 500 } },
      ]);
      await stores.close();
    });

    test("settings: set once by whoever is first, overwritten on purpose", async () => {
      const stores = await newLocation()();
      assert.equal(await stores.settings.get("admin"), undefined);
      assert.equal(await stores.settings.setIfAbsent("admin", "a"), true);
      assert.equal(await stores.settings.setIfAbsent("admin", "b"), false, "the first value stays");
      assert.equal(await stores.settings.get("admin"), "a");
      await stores.settings.set("admin", "c");
      assert.equal(await stores.settings.get("admin"), "c");
      await stores.close();
    });

    test("policies: applied all or none, replaced on request, listed by date, changes noticed elsewhere", async () => {
      const open = newLocation();
      const stores = await open();
      const { policies } = stores;
      const may = dated("may", "2026-05-06T00:00:00Z");
      const january = dated("jan", "2026-01-01T00:00:00Z");
      await policies.applyAll([may, january]);
      assert.deepEqual(
        (await policies.list()).map((policy) => policy.version),
        ["jan", "may"],
      );
      const other = await open();
      const before = await other.policies.dataVersion();
      await assert.rejects(policies.applyAll([dated("june", "2026-06-01T00:00:00Z"), may]), /already stored/);
      assert.deepEqual(
        (await policies.list()).map((policy) => policy.version),
        ["jan", "may"],
        "nothing of a refused file is stored",
      );
      await policies.applyAll([{ ...may, description: "replaced" }], { replace: true });
      assert.equal(
        (await other.policies.list()).find((policy) => policy.version === "may")?.description,
        "replaced",
      );
      assert.notEqual(await other.policies.dataVersion(), before, "another connection notices the change");
      const after = await other.policies.dataVersion();
      assert.equal(await policies.remove("jan"), true);
      assert.equal(await policies.remove("jan"), false);
      assert.notEqual(await other.policies.dataVersion(), after, "and a removal");
      await other.close();
      await stores.close();
    });

    test("policy review: a draft takes no effect until approved; every change is in the audit log, in order", async () => {
      const open = newLocation();
      const stores = await open();
      const other = await open();
      const { policies } = stores;
      const t = (minute: number) => new Date(Date.UTC(2026, 4, 1, 0, minute));
      await policies.applyAll([dated("base", "2026-01-01T00:00:00Z")], {
        actor: "cli",
        source: "base.yaml",
        now: t(0),
      });
      const planned = dated("planned", "2026-05-06T00:00:00Z");
      const versionBefore = await other.policies.dataVersion();
      const draft = await policies.propose(planned, {
        id: "d1",
        actor: "alice",
        source: "plan-report",
        notes: "margin ×1.25",
        now: t(1),
      });
      assert.deepEqual(
        [draft.status, draft.proposedBy, draft.source, draft.notes],
        ["draft", "alice", "plan-report", "margin ×1.25"],
      );
      // Proposed is not stored: no gateway sees it, and its version cannot be drafted twice or applied under it.
      assert.deepEqual(
        (await other.policies.list()).map((p) => p.version),
        ["base"],
      );
      await assert.rejects(policies.propose(planned, { id: "d2" }), /already drafted/);
      await assert.rejects(
        policies.propose(dated("base", "2026-07-01T00:00:00Z"), { id: "d3" }),
        /already stored/,
      );
      const approved = await other.policies.decide("d1", "approve", { actor: "bob", now: t(2) });
      assert.deepEqual(
        [approved.status, approved.decidedBy, approved.decidedAt],
        ["approved", "bob", t(2).toISOString()],
      );
      assert.deepEqual(
        (await policies.list()).map((p) => p.version),
        ["base", "planned"],
      );
      assert.notEqual(await policies.dataVersion(), versionBefore, "gateways notice the approval");
      await assert.rejects(policies.decide("d1", "reject"), /already approved/);
      await assert.rejects(policies.decide("nope", "approve"), /no policy draft nope/);
      // A rejected draft changes nothing and frees its version for a new proposal.
      await policies.propose(dated("later", "2026-08-01T00:00:00Z"), { id: "d4", now: t(3) });
      await policies.decide("d4", "reject", { actor: "carol", now: t(4) });
      assert.deepEqual(
        (await policies.list()).map((p) => p.version),
        ["base", "planned"],
      );
      await policies.propose(dated("later", "2026-08-02T00:00:00Z"), { id: "d5", now: t(5) });
      assert.deepEqual(
        (await policies.drafts()).map((d) => [d.id, d.status]),
        [
          ["d5", "draft"],
          ["d1", "approved"],
        ],
      );
      assert.equal(await policies.remove("base", { actor: "cli", now: t(6) }), true);
      assert.deepEqual(
        (await other.policies.auditLog()).map((e) => [e.action, e.version, e.actor, e.draftId, e.source]),
        [
          ["apply", "base", "cli", null, "base.yaml"],
          ["propose", "planned", "alice", "d1", "plan-report"],
          ["approve", "planned", "bob", "d1", "plan-report"],
          ["propose", "later", "unknown", "d4", null],
          ["reject", "later", "carol", "d4", null],
          ["propose", "later", "unknown", "d5", null],
          ["remove", "base", "cli", null, null],
        ],
      );
      await other.close();
      await stores.close();
    });

    test("ledger: a recorded event is durable for every connection, once per request id, every field intact", async () => {
      const open = newLocation();
      const stores = await open();
      const event = usageEvent({
        request_id: "req_exact",
        on_credits: true,
        streamed: true,
        billing: "delivered",
      });
      await stores.ledger.record(event);
      await stores.ledger.record({ ...event, output_tokens: 999 });
      const other = await open();
      const rows = await other.ledger.events({ account: "alice" });
      assert.deepEqual(
        rows.filter((row) => row.request_id === "req_exact"),
        [event],
      );
      // Which requests have a row, as a sweep asks for lost requests, from another connection.
      assert.deepEqual([...(await other.ledger.recorded(["req_missing", "req_exact"]))], ["req_exact"]);
      assert.equal((await other.ledger.recorded([])).size, 0);
      await other.close();
      await stores.close();
    });

    test("ledger: replay walks rows in time order across pages, by account; events and summary filter", async () => {
      const open = newLocation();
      const stores = await open();
      const { ledger } = stores;
      const times = [5_000, 3_000, 3_000, 4_000, 3_000, 6_000];
      await Promise.all(
        times.map((at, i) =>
          ledger.record(
            usageEvent({
              request_id: `req_r${i}`,
              at_ms: at,
              account: i === 5 ? "bob" : "carol",
              output_tokens: i,
            }),
          ),
        ),
      );
      const replay = ledger.replay as (
        since: number,
        filter?: { account?: string },
        pageSize?: number,
      ) => Iterable<UsageEvent> | AsyncIterable<UsageEvent>;
      // Rows of the same millisecond may come in any order; across pages none is lost or repeated.
      const ids = async (since: number, account?: string) => {
        const rows = await collect(replay.call(ledger, since, { account }, 2));
        for (let i = 1; i < rows.length; i++)
          assert.ok((rows[i]?.at_ms ?? 0) >= (rows[i - 1]?.at_ms ?? 0), "time order");
        const byTime = new Map<number, string[]>();
        for (const row of rows) byTime.set(row.at_ms, [...(byTime.get(row.at_ms) ?? []), row.request_id]);
        return [...byTime.values()].flatMap((group) => group.sort());
      };
      assert.deepEqual(await ids(2_000, "carol"), ["req_r1", "req_r2", "req_r4", "req_r3", "req_r0"]);
      assert.deepEqual(await ids(3_500, "carol"), ["req_r3", "req_r0"]);
      assert.deepEqual((await ids(5_500)).slice(-1), ["req_r5"]);
      const recent = await ledger.events({ account: "carol", sinceMs: 4_000, limit: 10 });
      assert.deepEqual(
        recent.map((row) => row.request_id),
        ["req_r0", "req_r3"],
        "newest first",
      );
      const summary = await ledger.summary({ account: "carol" });
      assert.deepEqual(summary, [
        {
          account: "carol",
          model: "claude-sonnet-4-6",
          requests: 5,
          errors: 0,
          input_tokens: 50,
          output_tokens: 0 + 1 + 2 + 3 + 4,
          cache_creation_input_tokens: 15,
          cache_read_input_tokens: 20,
        },
      ]);
      await stores.close();
    });
  });
}
