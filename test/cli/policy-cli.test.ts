import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { runCli } from "../helpers/cli.ts";

const dir = mkdtempSync(join(tmpdir(), "headroom-policy-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const deal = resolve("examples/deal-policy.yaml");

describe("headroom policy", () => {
  test("apply stores both dated policies; list shows which is in force; diff shows the deal", async () => {
    const applied = await runCli(["policy", "apply", deal], { cwd: dir });
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Stored policy 2026-01-01-baseline: superseded\./);
    assert.match(applied.stdout, /Stored policy 2026-05-06-colossus: in force\./);
    const list = await runCli(["policy", "list", "--json"], { cwd: dir });
    const rows = JSON.parse(list.stdout) as Array<{ version: string; status: string }>;
    assert.deepEqual(
      rows.map((row) => [row.version, row.status]),
      [
        ["2026-01-01-baseline", "superseded"],
        ["2026-05-06-colossus", "in force"],
      ],
    );
    const diff = await runCli(["policy", "diff", "2026-01-01-baseline", "2026-05-06-colossus"], { cwd: dir });
    assert.match(diff.stdout, /plans\.pro\.session_budget_usd\s+1\.2\s+2\.4/);
    assert.match(diff.stdout, /plans\.pro\.peak\s+\{"time_zone":"America\/Los_Angeles".*\}\s+null/);
    const show = await runCli(["policy", "show", "2026-05-06-colossus"], { cwd: dir });
    assert.match(show.stdout, /^version: 2026-05-06-colossus$/m);
  });

  test("applying the same version again is refused unless --replace", async () => {
    const again = await runCli(["policy", "apply", deal], { cwd: dir });
    assert.equal(again.code, 2);
    assert.match(again.stderr, /already stored; give --replace/);
    assert.equal((await runCli(["policy", "apply", deal, "--replace"], { cwd: dir })).code, 0);
  });

  test("a bad policy file is refused with the file, the path inside it and what is wrong", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(
      file,
      [
        "version: broken",
        "effective_from: 2026-06-01T00:00:00Z",
        "model_classes:",
        "  sonnet: { families: [sonnet], input: 3, output: 15, cache_write: 3.75, cache_read: 0.3 }",
        "plans:",
        "  pro: { kind: subscription, priority: 3, session_budget_usd: -1, weekly_budget_usd: 10 }",
        "  tier: { kind: api, priority: 1, rate_limits: { opus: { rpm: 1, itpm: 1, otpm: 1 } }, concurrency: 1, monthly_spend_usd: 1 }",
      ].join("\n"),
    );
    const result = await runCli(["policy", "apply", file], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.yaml: plans\.pro\.session_budget_usd: Too small/);
    assert.match(result.stderr, /bad\.yaml: plans\.tier\.rate_limits: needs a `default` entry/);
    const list = await runCli(["policy", "list", "--json"], { cwd: dir });
    assert.ok(!list.stdout.includes("broken"), "nothing of a bad file is stored");
  });
});
