import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { resolveAdminToken } from "../../src/edge/admin/admin-token.ts";
import { openStores } from "../../src/stores/open-stores.ts";
import { runCli } from "../helpers/cli.ts";

describe("headroom orgs, teams and per-key limits from the command line", () => {
  let dir: string;
  const cli = (...args: string[]) => runCli([...args, "--data-dir", dir]);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "headroom-levels-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("create, list and set; keys join teams; the identity carries every level", async () => {
    const org = await cli("orgs", "create", "acme", "--monthly-budget-usd", "500");
    assert.equal(org.code, 0, org.stderr);
    assert.match(org.stdout, /Created organisation acme \(\$500 spend per month\)/);
    const team = await cli("teams", "create", "infra", "--org", "acme", "--rpm", "120", "--concurrency", "8");
    assert.equal(team.code, 0, team.stderr);
    const key = await cli(
      "keys",
      "create",
      "--account",
      "alice",
      "--plan",
      "api-tier-2",
      "--team",
      "infra",
      "--json",
    );
    assert.equal(key.code, 0, key.stderr);
    const { id } = JSON.parse(key.stdout) as { id: string };
    const narrowed = await cli("keys", "set", id, "--otpm", "2000");
    assert.equal(narrowed.code, 0, narrowed.stderr);
    assert.match(narrowed.stdout, /2000 output tokens per minute/);
    const changed = await cli("teams", "set", "infra", "--rpm", "60");
    assert.match(changed.stdout, /Team infra: 60 requests per minute, 8 requests in flight\./);
    const listed = JSON.parse((await cli("teams", "list", "--org", "acme", "--json")).stdout) as Array<{
      name: string;
      limits: Record<string, number>;
    }>;
    assert.deepEqual(
      listed.map((entry) => [entry.name, entry.limits]),
      [["infra", { requests_per_minute: 60, concurrency: 8 }]],
    );
    assert.match((await cli("orgs", "list")).stdout, /acme\s+\$500 spend per month/);
    const tiered = await cli("orgs", "set", "acme", "--plan", "api-tier-3");
    assert.match(tiered.stdout, /Organisation acme: plan api-tier-3, \$500 spend per month\./);

    const stores = await openStores({ dataDir: dir, env: {} });
    try {
      const identity = await stores.accounts.identityOfKey(id);
      assert.deepEqual(identity?.levels, [
        { level: "organisation", name: "acme", limits: { monthly_budget_usd: 500, plan: "api-tier-3" } },
        { level: "team", name: "infra", limits: { requests_per_minute: 60, concurrency: 8 } },
        { level: "key", name: id, limits: { output_tokens_per_minute: 2000 } },
      ]);
    } finally {
      await stores.close();
    }
    const out = await cli("accounts", "set", "--account", "alice", "--no-team");
    assert.match(out.stdout, /no team/);
  });

  test("mistakes are one clear line and exit 2", async () => {
    for (const [args, pattern] of [
      [["teams", "create", "x", "--org", "nowhere"], /Organisation "nowhere" does not exist/],
      [["orgs", "create", "acme"], /already exists/],
      [["orgs", "set", "ghost", "--rpm", "1"], /no organisation ghost/],
      [["teams", "create", "y", "--org", "acme", "--rpm", "-3"], /--rpm: not a positive whole number: -3/],
      [["keys", "create", "--account", "bob", "--plan", "pro", "--team", "ghost"], /no team ghost/],
      [["keys", "set", "key_nope", "--rpm", "1"], /no key with id key_nope/],
      [["orgs", "set", "acme", "--plan", "platinum"], /unknown plan "platinum"/],
    ] as const) {
      const result = await cli(...args);
      assert.equal(result.code, 2, `${args.join(" ")}: ${result.stdout}${result.stderr}`);
      assert.match(result.stderr, pattern);
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });

  test("admin rotate-token prints a new token whose hash replaces the old", async () => {
    const rotated = await cli("admin", "rotate-token");
    assert.equal(rotated.code, 0, rotated.stderr);
    const token = /hr-admin-\w+/.exec(rotated.stdout)?.[0];
    assert.ok(token);
    const stores = await openStores({ dataDir: dir, env: {} });
    try {
      const resolved = await resolveAdminToken({}, stores.settings);
      assert.equal(resolved.source, "stored");
      assert.equal(resolved.accepts(token), true);
      assert.equal(resolved.accepts(`${token}x`), false);
    } finally {
      await stores.close();
    }
  });
});
