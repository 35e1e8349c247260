import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { stringify } from "yaml";
import { ConfigError } from "../../src/config/load.ts";
import { defaultPolicy } from "../../src/plans/default-policy.ts";
import { readPolicyFile } from "../../src/plans/load-policy.ts";
import { isPeak, localWeekdayAndHour } from "../../src/plans/peak.ts";
import { PolicyBook } from "../../src/plans/policy-book.ts";
import { diffPolicies } from "../../src/plans/policy-diff.ts";
import { type Policy, policySchema } from "../../src/plans/schema.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqlitePolicyStore } from "../../src/stores/sqlite-policies.ts";
import { waitFor } from "../helpers/wait.ts";

const dir = mkdtempSync(join(tmpdir(), "headroom-policies-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function dated(version: string, effectiveFrom: string, sessionUsd: number): Policy {
  const pro = defaultPolicy.plans.pro;
  assert.ok(pro?.kind === "subscription");
  return policySchema.parse({
    ...defaultPolicy,
    version,
    effective_from: effectiveFrom,
    plans: { ...defaultPolicy.plans, pro: { ...pro, session_budget_usd: sessionUsd } },
  });
}

const january = dated("jan", "2026-01-01T00:00:00Z", 1);
const may = dated("may", "2026-05-06T00:00:00Z", 2);
const MAY_6 = Date.parse(may.effective_from);

describe("the policy book", () => {
  test("without stored policies the built-in one is in force", () => {
    assert.equal(new PolicyBook(undefined).inForce(MAY_6), defaultPolicy);
  });

  test("the latest policy whose date has come is in force, from its exact millisecond", async () => {
    const db = openDatabase(join(dir, "book"));
    const store = new SqlitePolicyStore(db);
    await store.applyAll([may, january]);
    const book = await PolicyBook.open(store);
    assert.equal(book.inForce(Date.parse(january.effective_from) - 1).version, "builtin");
    assert.equal(book.inForce(Date.parse(january.effective_from)).version, "jan");
    assert.equal(book.inForce(MAY_6 - 1).version, "jan");
    assert.equal(book.inForce(MAY_6).version, "may");
    assert.deepEqual(
      book.timeline(MAY_6 - 1).map(({ policy, status }) => [policy.version, status]),
      [
        ["jan", "in force"],
        ["may", "scheduled"],
      ],
    );
    assert.deepEqual(
      book.timeline(MAY_6).map(({ policy, status }) => [policy.version, status]),
      [
        ["jan", "superseded"],
        ["may", "in force"],
      ],
    );
    db.close();
  });

  test("a policy applied by another connection is seen after the next poll, not before", async () => {
    const dataDir = join(dir, "poll");
    const db = openDatabase(dataDir);
    const wall = { ms: 0 };
    const store = new SqlitePolicyStore(db);
    let asked = 0;
    const counting = {
      list: () => store.list(),
      remove: (version: string) => store.remove(version),
      applyAll: (policies: Parameters<typeof store.applyAll>[0]) => store.applyAll(policies),
      dataVersion: () => {
        asked++;
        return store.dataVersion();
      },
    };
    const book = new PolicyBook(counting, 250, () => wall.ms);
    await book.refresh();
    assert.equal(book.inForce(MAY_6).version, "builtin");
    const other = openDatabase(dataDir);
    await new SqlitePolicyStore(other).applyAll([january]);
    other.close();
    wall.ms = 249;
    const before = asked;
    assert.equal(book.inForce(MAY_6).version, "builtin");
    assert.equal(asked, before, "the store is asked at most every 250 ms");
    wall.ms = 250;
    book.inForce(MAY_6);
    assert.equal(asked, before + 1, "asked once the poll is due, in the background");
    await waitFor(() => book.inForce(MAY_6).version === "jan", "the book to load the new policy");
    db.close();
  });
});

describe("peak hours", () => {
  const rule = {
    time_zone: "America/Los_Angeles",
    weekdays: [1, 2, 3, 4, 5],
    hours: [5, 11] as [number, number],
    mode: "shrink" as const,
    factor: 0.5,
  };

  test("local weekday and hour come from the time zone, across daylight saving", () => {
    // Monday 2 March 2026 12:30 UTC is 04:30 PST; Monday 9 March 12:30 UTC is 05:30 PDT.
    assert.deepEqual(localWeekdayAndHour(Date.UTC(2026, 2, 2, 12, 30), rule.time_zone), {
      weekday: 1,
      hour: 4,
    });
    assert.deepEqual(localWeekdayAndHour(Date.UTC(2026, 2, 9, 12, 30), rule.time_zone), {
      weekday: 1,
      hour: 5,
    });
    assert.deepEqual(localWeekdayAndHour(Date.UTC(2026, 2, 8, 7, 59), "UTC"), { weekday: 7, hour: 7 });
  });

  test("the start hour is peak and the end hour is not; weekends and no rule never are", () => {
    const tuesdayAt = (hourPst: number, minute = 0) => Date.UTC(2026, 2, 3, hourPst + 8, minute);
    assert.equal(isPeak(rule, tuesdayAt(4, 59)), false);
    assert.equal(isPeak(rule, tuesdayAt(5)), true);
    assert.equal(isPeak(rule, tuesdayAt(10, 59)), true);
    assert.equal(isPeak(rule, tuesdayAt(11)), false);
    assert.equal(isPeak(rule, Date.UTC(2026, 2, 7, 15)), false, "Saturday 07:00 PST");
    assert.equal(isPeak(null, tuesdayAt(6)), false);
  });
});

describe("policy diff", () => {
  test("lists changed, added and removed fields by path; versions, dates and descriptions aside", () => {
    const changed = structuredClone(may);
    changed.description = "another description";
    const tier1 = changed.plans["api-tier-1"];
    assert.ok(tier1?.kind === "api");
    tier1.description = "renamed";
    const classic = tier1.rate_limits.default;
    assert.ok(classic);
    classic.rpm = 99;
    delete changed.plans["max-20x"];
    changed.capacity_scaling = { baseline: 10 };
    const changes = diffPolicies(january, changed);
    const byPath = Object.fromEntries(changes.map((change) => [change.path, [change.before, change.after]]));
    assert.deepEqual(byPath["plans.pro.session_budget_usd"], [1, 2]);
    assert.deepEqual(byPath["plans.api-tier-1.rate_limits.default.rpm"], [50, 99]);
    assert.deepEqual(byPath["plans.max-20x"]?.[1], undefined);
    assert.ok(byPath["plans.max-20x"]?.[0], "the removed plan is listed with what it was");
    assert.deepEqual(byPath.capacity_scaling, [null, { baseline: 10 }]);
    assert.equal(
      changes.filter((change) => change.path.endsWith("description")).length,
      0,
      "descriptions are not changes",
    );
    assert.equal(changes.length, 4);
    assert.deepEqual(diffPolicies(january, structuredClone(january)), []);
  });
});

describe("policy files", () => {
  test("a file holds one policy or a list; a version twice, a bad field or a missing file is refused", () => {
    const one = join(dir, "one.yaml");
    writeFileSync(one, stringify(january));
    assert.deepEqual(
      readPolicyFile(one).map((policy) => policy.version),
      ["jan"],
    );
    const list = join(dir, "list.yaml");
    writeFileSync(list, stringify([january, may]));
    assert.deepEqual(
      readPolicyFile(list).map((policy) => policy.version),
      ["jan", "may"],
    );
    const twice = join(dir, "twice.yaml");
    writeFileSync(twice, stringify([january, january]));
    assert.throws(() => readPolicyFile(twice), /twice\.yaml: version jan appears twice/);
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, stringify({ ...january, plans: { pro: { kind: "subscription" } } }));
    assert.throws(
      () => readPolicyFile(bad),
      (error: unknown) => error instanceof ConfigError && /bad\.yaml: plans\.pro/.test(error.message),
    );
    assert.throws(() => readPolicyFile(join(dir, "missing.yaml")), /missing\.yaml: cannot read: ENOENT/);
    const empty = join(dir, "empty-list.yaml");
    writeFileSync(empty, "[]\n");
    assert.throws(() => readPolicyFile(empty), ConfigError);
  });
});
