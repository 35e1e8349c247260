/**
 * Which policy is in force: the latest stored one whose `effective_from` is not after the
 * clock, else the built-in one. Re-reads the store when it changed (another process ran
 * `headroom policy apply`), so a scheduled or new policy takes effect with no restart.
 */
import { defaultPolicy } from "./default-policy.ts";
import { knownPlanNames } from "./registry.ts";
import type { Policy } from "./schema.ts";

/** What the book reads its policies from: any store of dated policies (the arrow points down). */
export interface PolicySource {
  /** Every stored policy, earliest effective first. */
  list(): Promise<Policy[]>;
  /** Changes whenever the stored policies may have changed (from any process). */
  dataVersion(): Promise<string>;
}

interface Dated {
  fromMs: number;
  policy: Policy;
}

export class PolicyBook {
  private dated: Dated[] = [];
  private seenVersion: string | undefined;
  private checkedAtMs = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly store: PolicySource | undefined,
    /**
     * How often to ask the store whether policies changed. This is wall time between polls,
     * not the policy clock (which tests freeze and move by hours), so it reads the monotonic
     * clock; asking on every request would cost a query per request. The question is asked in
     * the background: a request never waits for it.
     */
    private readonly refreshMs = 250,
    private readonly monotonicMs: () => number = () => performance.now(),
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  /** A book with the store's policies loaded. */
  static async open(store: PolicySource | undefined): Promise<PolicyBook> {
    const book = new PolicyBook(store);
    await book.refresh();
    return book;
  }

  /** Reloads policies now (at start, after an apply in this process). */
  async refresh(): Promise<void> {
    if (!this.store) return;
    this.checkedAtMs = this.monotonicMs();
    const version = await this.store.dataVersion();
    const policies = await this.store.list();
    this.seenVersion = version;
    this.dated = policies
      .map((policy) => ({ fromMs: Date.parse(policy.effective_from), policy }))
      .sort((a, b) => a.fromMs - b.fromMs);
  }

  private maybeRefresh(): void {
    const wall = this.monotonicMs();
    const store = this.store;
    if (!store || this.refreshing || wall - this.checkedAtMs < this.refreshMs) return;
    this.checkedAtMs = wall;
    this.refreshing = store
      .dataVersion()
      .then((version) => (version !== this.seenVersion ? this.refresh() : undefined))
      .catch(this.onError)
      .finally(() => {
        this.refreshing = undefined;
      });
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

  /** Every plan an account may be put on: built in, or in any stored policy. */
  planNames(): string[] {
    return knownPlanNames(this.dated.map(({ policy }) => policy));
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
