/**
 * Limiter state in process memory, for a single gateway process. Each key holds its dimension
 * states by name. Records whose state has become equivalent to a fresh one are swept
 * incrementally, a few per operation, so memory is bounded by the keys active recently.
 */
import { decide, reconcile } from "../limits/decide.ts";
import type { Decision, DimensionSpec, DimensionState, Lease, PairState } from "../limits/dimension.ts";
import type { CheckRequest, LimiterStore, ReconcileRequest } from "../limits/limiter-store.ts";
import { bucketIdleMs } from "../limits/token-bucket.ts";
import { windowIdleMs } from "../limits/window.ts";

interface KeyRecord {
  states: Map<string, DimensionState>;
  /** After this instant every state in the record equals a fresh one. */
  idleAtMs: number;
}

function idleMs(state: DimensionState, spec: DimensionSpec, now: number): number {
  switch (spec.kind) {
    case "rate":
      return bucketIdleMs(state as PairState, spec, now);
    case "window":
      return windowIdleMs(state as PairState, spec, now);
    case "concurrency": {
      let latest = 0;
      for (const lease of state as Lease[]) latest = Math.max(latest, lease.expiresAtMs - now);
      return latest;
    }
  }
}

export class MemoryLimiterStore implements LimiterStore {
  private readonly records = new Map<string, KeyRecord>();
  private sweeper: Iterator<[string, KeyRecord]> | undefined;
  private readonly now: () => number;

  constructor(options: { now?: () => number } = {}) {
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.records.size;
  }

  check(request: CheckRequest): Promise<Decision> {
    return Promise.resolve(this.checkSync(request));
  }

  /** The same decision without a promise, for callers in the same process. */
  checkSync(request: CheckRequest): Decision {
    const now = this.now();
    this.sweep(now);
    const record = this.records.get(request.key);
    const { dimensions } = request;
    const states = dimensions.map((spec) => record?.states.get(spec.name));
    const outcome = decide(states, dimensions, now, request.costs, request.leaseId);
    if (outcome.decision.admitted) this.store(request.key, record, dimensions, outcome.states, now);
    return outcome.decision;
  }

  reconcile(request: ReconcileRequest): Promise<void> {
    const now = this.now();
    // A key without a record (never seen, or swept as idle) is in the fresh state, and a
    // charge against a fresh bucket still counts.
    const record = this.records.get(request.key);
    const states = request.dimensions.map((spec) => record?.states.get(spec.name));
    const next = reconcile(states, request.dimensions, now, request.deltas, request.leaseId);
    this.store(request.key, record, request.dimensions, next, now);
    return Promise.resolve();
  }

  private store(
    key: string,
    existing: KeyRecord | undefined,
    dimensions: readonly DimensionSpec[],
    states: Array<DimensionState | undefined>,
    now: number,
  ): void {
    const record = existing ?? { states: new Map(), idleAtMs: 0 };
    for (let i = 0; i < dimensions.length; i++) {
      const spec = dimensions[i] as DimensionSpec;
      const state = states[i];
      if (state === undefined) continue;
      record.states.set(spec.name, state);
      record.idleAtMs = Math.max(record.idleAtMs, now + idleMs(state, spec, now));
    }
    if (!existing) this.records.set(key, record);
  }

  /** Looks at a couple of records per operation and drops those that went idle. */
  private sweep(now: number): void {
    for (let i = 0; i < 2; i++) {
      this.sweeper ??= this.records.entries();
      const next = this.sweeper.next();
      if (next.done) {
        this.sweeper = undefined;
        return;
      }
      const [key, record] = next.value;
      if (record.idleAtMs <= now) this.records.delete(key);
    }
  }

  async close(): Promise<void> {
    this.records.clear();
  }
}
