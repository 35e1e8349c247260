import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { parse, stringify } from "yaml";
import { runCli } from "../helpers/cli.ts";

/**
 * From a plan run to a policy in force, through review, with the real `headroom` commands: the
 * plan's own output directory is what gets proposed.
 */
describe("headroom policy propose | drafts | diff | approve | reject | log", () => {
  const dir = mkdtempSync(join(tmpdir(), "headroom-review-"));
  const data = join(dir, "data");
  const out = join(dir, "plan");
  const state = ["--data-dir", data];
  after(() => rmSync(dir, { recursive: true, force: true }));

  before(async () => {
    // The example, made quick: coarse steps, few cohorts, its week's shape given.
    const scenario = parse(readFileSync("examples/colossus-deal.yaml", "utf8")) as Record<string, unknown> & {
      demand: Record<string, unknown>;
    };
    scenario.fleet = resolve("examples/colossus-fleet.yaml");
    scenario.policy_file = resolve("examples/deal-policy.yaml");
    scenario.resolution_minutes = 30;
    scenario.cohorts_per_plan = 8;
    delete scenario.demand.peak_rule_newly_limited_share;
    scenario.demand.day_concentration = 0.6;
    const file = join(dir, "quick.yaml");
    writeFileSync(file, stringify(scenario));
    const plan = await runCli(["plan", "--scenario", file, "--out", out]);
    assert.equal(plan.code, 0, plan.stderr);
    assert.match(plan.stdout, /policy propose --from/);
    const applied = await runCli(["policy", "apply", "examples/deal-policy.yaml", ...state]);
    assert.equal(applied.code, 0, applied.stderr);
  });

  test("a proposal is a draft no one enforces; its diff carries the plan's margins; approval schedules it; the log holds every step", async () => {
    const proposed = await runCli([
      "policy",
      "propose",
      "--from",
      out,
      "--effective",
      "2027-01-01T00:00:00Z",
      ...state,
    ]);
    assert.equal(proposed.code, 0, proposed.stderr);
    const id = /Proposed (draft_\w+)\./.exec(proposed.stdout)?.[1];
    assert.ok(id, proposed.stdout);
    // Against the policy in force at its date, with the plan's margin beside each budget change.
    assert.match(proposed.stdout, /against 2026-05-06-colossus \(in force then\)/);
    assert.match(proposed.stdout, /plans\.pro\.session_budget_usd\s+\S+\s+\S+\s+sustainable (≥ )?×\d+\.\d\d/);
    assert.match(proposed.stdout, /baseline_at_target/);
    const listed = await runCli(["policy", "list", "--json", ...state]);
    const versions = (JSON.parse(listed.stdout) as Array<{ version: string }>).map((p) => p.version);
    assert.deepEqual(versions, ["2026-01-01-baseline", "2026-05-06-colossus"], "a draft is not a policy");
    const again = await runCli([
      "policy",
      "propose",
      "--from",
      out,
      "--effective",
      "2027-01-01T00:00:00Z",
      ...state,
    ]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /planned-2027-01-01 is already drafted/);

    const diff = await runCli(["policy", "diff", id, ...state]);
    assert.equal(diff.code, 0, diff.stderr);
    assert.match(diff.stdout, new RegExp(`Draft ${id} \\(draft\\)`));

    const approved = await runCli(["policy", "approve", id, ...state]);
    assert.equal(approved.code, 0, approved.stderr);
    assert.match(approved.stdout, /policy planned-2027-01-01 takes effect at 2027-01-01T00:00:00Z/);
    const scheduled = JSON.parse((await runCli(["policy", "list", "--json", ...state])).stdout) as Array<
      Record<string, string>
    >;
    const last = scheduled.at(-1);
    assert.deepEqual(
      [last?.version, last?.effective_from, last?.status],
      ["planned-2027-01-01", "2027-01-01T00:00:00Z", "scheduled"],
    );
    const twice = await runCli(["policy", "reject", id, ...state]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /already approved/);

    const log = JSON.parse((await runCli(["policy", "log", "--json", ...state])).stdout) as Array<{
      action: string;
      version: string;
      draftId: string | null;
      source: string | null;
      actor: string;
    }>;
    assert.deepEqual(
      log.map((entry) => [entry.action, entry.version, entry.draftId, entry.source]),
      [
        ["apply", "2026-01-01-baseline", null, "examples/deal-policy.yaml"],
        ["apply", "2026-05-06-colossus", null, "examples/deal-policy.yaml"],
        ["propose", "planned-2027-01-01", id, out],
        ["approve", "planned-2027-01-01", id, out],
      ],
    );
    assert.ok(log.every((entry) => entry.actor.startsWith("cli")));
  });

  test("bad input is refused with what to do", async () => {
    const noPlan = await runCli([
      "policy",
      "propose",
      "--from",
      dir,
      "--effective",
      "2027-01-01T00:00:00Z",
      ...state,
    ]);
    assert.equal(noPlan.code, 2);
    assert.match(noPlan.stderr, /policy\.yaml does not exist: give the --out directory of `headroom plan`/);
    const badDate = await runCli(["policy", "propose", "--from", out, "--effective", "soon", ...state]);
    assert.equal(badDate.code, 2);
    assert.match(badDate.stderr, /--effective must be an ISO date-time, got "soon"/);
    const unknown = await runCli(["policy", "approve", "draft_nope", ...state]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no policy draft draft_nope/);
  });
});
