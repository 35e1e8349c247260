/**
 * Which policy is in force: the latest stored one whose `effective_from` is not after the
 * clock, else the built-in one. Re-reads the store when the database changed (another process
 * ran `headroom policy apply`), so a scheduled or new policy takes effect with no restart.
 */
import type { SqlitePolicyStore } from "../stores/sqlite-policies.ts";
import { defaultPolicy } from "./default-policy.ts";
import type { Policy } from "./schema.ts";

interface Dated {
  fromMs: number;
  policy: Policy;
}

export class PolicyBook {
  private dated: Dated[] = [];
  private seenVersion = -1;
  private checkedAtMs = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly store: SqlitePolicyStore | undefined,
    /**
     * How often to ask the database whether policies changed. This is wall time between polls
     * of the database, not the policy clock (which tests freeze and move by hours), so it reads
     * the monotonic clock; asking on every request would cost a query per request.
     */
    private readonly refreshMs = 250,
    private readonly monotonicMs: () => number = () => performance.now(),
  ) {
    this.refresh();
  }

  /** Reloads policies now (after an apply in this process). */
  refresh(): void {
    if (!this.store) return;
    this.seenVersion = this.store.dataVersion();
    this.dated = this.store
      .list()
      .map((policy) => ({ fromMs: Date.parse(policy.effective_from), policy }))
      .sort((a, b) => a.fromMs - b.fromMs);
  }

  private maybeRefresh(): void {
    const wall = this.monotonicMs();
    if (!this.store || wall - this.checkedAtMs < this.refreshMs) return;
    this.checkedAtMs = wall;
    if (this.store.dataVersion() !== this.seenVersion) this.refresh();
  }

  inForce(nowMs: number): Policy {
    this.maybeRefresh();
    let current = defaultPolicy;
    for (const entry of this.dated) {
      if (entry.fromMs <= nowMs) current = entry.policy;
      else break;
    }
    return current;
  }

  /** Stored policies with their status at `nowMs`. */
  timeline(nowMs: number): Array<{ policy: Policy; status: "in force" | "scheduled" | "superseded" }> {
    this.maybeRefresh();
    const current = this.inForce(nowMs);
    return this.dated.map(({ fromMs, policy }) => ({
      policy,
      status: policy === current ? "in force" : fromMs > nowMs ? "scheduled" : "superseded",
    }));
  }
}
