/**
 * Limiter state in process memory, for a single gateway process. One record per key holds the
 * flat state of its dimensions. A record whose state has become equivalent to a fresh one is
 * kept for a while (its key may return) and then deleted by an incremental sweep, so memory is
 * bounded by the keys active recently without churning records of busy keys.
 */
import { decide, idleMs, keepLeases, reconcile, replay } from "../limits/decide.ts";
import { type Decision, type DimensionSpec, KeyState, type Lease } from "../limits/dimension.ts";
import type {
  CheckRequest,
  HeldLease,
  LimiterStore,
  ReconcileRequest,
  ReplayRequest,
} from "../limits/limiter-store.ts";

interface ParkedState {
  spec: DimensionSpec;
  a: number;
  b: number;
  leases: Lease[] | undefined;
}

class KeyRecord extends KeyState {
  /** When the key was last used; the sweep only looks at records unused for a while. */
  usedAtMs: number;
  /** Dimensions of this key that the current list does not include (another plan or the
   * usage credits), kept by name so they are intact when a list with them comes back. */
  parked: Map<string, ParkedState> | null = null;

  constructor(
    /** The dimension list the state is laid out for (by position). */
    public specs: readonly DimensionSpec[],
    now: number,
  ) {
    super(specs.length);
    this.usedAtMs = now;
  }
}

/** A dimension list split by scope: each group decided on its own record, all or nothing. */
interface ScopeGroup {
  /** The record's key: the request's own (undefined) or a scope's. */
  scope: string | undefined;
  specs: DimensionSpec[];
  /** Where each of the group's dimensions sits in the request's list. */
  positions: number[];
}

function groupByScope(dimensions: readonly DimensionSpec[]): ScopeGroup[] | null {
  if (!dimensions.some((spec) => spec.scope !== undefined)) return null;
  const groups = new Map<string | undefined, ScopeGroup>();
  dimensions.forEach((spec, position) => {
    let group = groups.get(spec.scope);
    if (!group) {
      group = { scope: spec.scope, specs: [], positions: [] };
      groups.set(spec.scope, group);
    }
    group.specs.push(spec);
    group.positions.push(position);
  });
  return [...groups.values()];
}

/** A scope's record key; a control character keeps it apart from every account's. */
const scopeKey = (scope: string) => `\u0001${scope}`;

/** Records unused this long (and equal to fresh) are deleted; busy keys are never churned. */
const EVICT_AFTER_IDLE_MS = 60_000;
/** Every this many operations the sweep inspects a batch of records. */
const SWEEP_EVERY = 1_024;
const SWEEP_BATCH = 256;

function sameLayout(a: readonly DimensionSpec[], b: readonly DimensionSpec[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i]?.name !== b[i]?.name || a[i]?.kind !== b[i]?.kind) return false;
  return true;
}

/** The record laid out for a new dimension list, matched by name; dimensions the new list
 * lacks are parked, and parked ones it has come back. */
function relayout(record: KeyRecord, specs: readonly DimensionSpec[], now: number): KeyRecord {
  const next = new KeyRecord(specs, now);
  const parked = new Map(record.parked ?? []);
  record.specs.forEach((spec, j) => {
    parked.set(`${spec.kind}:${spec.name}`, {
      spec,
      a: record.a(j),
      b: record.b(j),
      leases: record.leasesOf(j),
    });
  });
  specs.forEach((spec, i) => {
    const id = `${spec.kind}:${spec.name}`;
    const state = parked.get(id);
    if (!state) return;
    parked.delete(id);
    next.set(i, state.a, state.b);
    if (state.leases) next.setLeases(i, state.leases);
  });
  next.parked = parked.size > 0 ? parked : null;
  return next;
}

/** Whether every state of the record, parked ones included, equals a fresh one. */
function isIdle(record: KeyRecord, now: number): boolean {
  if (idleMs(record, record.specs, now) > 0) return false;
  for (const parked of record.parked?.values() ?? []) {
    const probe = new KeyState(1);
    probe.set(0, parked.a, parked.b);
    if (parked.leases) probe.setLeases(0, parked.leases);
    if (idleMs(probe, [parked.spec], now) > 0) return false;
  }
  return true;
}

export class MemoryLimiterStore implements LimiterStore {
  private readonly records = new Map<string, KeyRecord>();
  /** Each dimension list's split by scope (null: no scopes), computed once per list. */
  private readonly layouts = new WeakMap<readonly DimensionSpec[], ScopeGroup[] | null>();
  private sweeper: Iterator<string> | undefined;
  private operations = 0;
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
    if (++this.operations % SWEEP_EVERY === 0) this.sweep(now);
    const groups = this.groupsOf(request.dimensions);
    if (!groups) {
      const record = this.recordFor(request.key, request.dimensions, now);
      return decide(record, request.dimensions, now, request.costs, request.leaseId, !request.dryRun);
    }
    // Every scope is asked first without changing anything; only if all admit is each charged.
    const parts = groups.map((group) => ({
      group,
      record: this.recordFor(
        group.scope === undefined ? request.key : scopeKey(group.scope),
        group.specs,
        now,
      ),
      costs: group.positions.map((position) => request.costs[position] ?? 0),
    }));
    let decisions = parts.map(({ group, record, costs }) =>
      decide(record, group.specs, now, costs, request.leaseId, false),
    );
    const admitted = decisions.every((decision) => decision.admitted);
    if (admitted && !request.dryRun) {
      decisions = parts.map(({ group, record, costs }) =>
        decide(record, group.specs, now, costs, request.leaseId, true),
      );
    }
    const dimensions: Decision["dimensions"] = new Array(request.dimensions.length);
    let retryAfterMs: number | null = 0;
    decisions.forEach((decision, index) => {
      (parts[index] as (typeof parts)[number]).group.positions.forEach((position, at) => {
        dimensions[position] = decision.dimensions[at] as Decision["dimensions"][number];
      });
      if (retryAfterMs !== null) {
        retryAfterMs = decision.retryAfterMs === null ? null : Math.max(retryAfterMs, decision.retryAfterMs);
      }
    });
    return { admitted, retryAfterMs: admitted ? 0 : retryAfterMs, dimensions, atMs: now };
  }

  private groupsOf(dimensions: readonly DimensionSpec[]): ScopeGroup[] | null {
    let groups = this.layouts.get(dimensions);
    if (groups === undefined) {
      groups = groupByScope(dimensions);
      this.layouts.set(dimensions, groups);
    }
    return groups;
  }

  /** Runs `apply` on each scope's record with its share of the amounts. */
  private eachScope(
    key: string,
    dimensions: readonly DimensionSpec[],
    amounts: readonly number[],
    now: number,
    apply: (record: KeyRecord, specs: readonly DimensionSpec[], amounts: number[]) => void,
  ): void {
    const groups = this.groupsOf(dimensions) ?? [
      { scope: undefined, specs: dimensions as DimensionSpec[], positions: dimensions.map((_, i) => i) },
    ];
    for (const group of groups) {
      const record = this.recordFor(
        group.scope === undefined ? key : scopeKey(group.scope),
        group.specs,
        now,
      );
      apply(
        record,
        group.specs,
        group.positions.map((position) => amounts[position] ?? 0),
      );
    }
  }

  reconcile(request: ReconcileRequest): Promise<void> {
    this.reconcileSync(request);
    return Promise.resolve();
  }

  reconcileSync(request: ReconcileRequest): void {
    const now = this.now();
    // A key without a record (never seen, or swept) is fresh, and a charge against it counts.
    this.eachScope(request.key, request.dimensions, request.deltas, now, (record, specs, deltas) =>
      reconcile(record, specs, now, deltas, request.leaseId),
    );
  }

  keepAlive(leases: readonly HeldLease[]): void {
    const now = this.now();
    for (const lease of leases) {
      const none = lease.dimensions.map(() => 0);
      this.eachScope(lease.key, lease.dimensions, none, now, (record, specs) =>
        keepLeases(record, specs, now, lease.leaseId),
      );
    }
  }

  replay(request: ReplayRequest): void {
    this.eachScope(request.key, request.dimensions, request.costs, request.atMs, (record, specs, costs) =>
      replay(record, specs, request.atMs, costs),
    );
  }

  private recordFor(key: string, specs: readonly DimensionSpec[], now: number): KeyRecord {
    let record = this.records.get(key);
    if (record) record.usedAtMs = now;
    else {
      record = new KeyRecord(specs, now);
      this.records.set(key, record);
      return record;
    }
    // An idle record needs no reset: idle means the algorithms already read its state as fresh
    // (a bucket refilled to full, a window ended, every lease expired).
    if (record.specs !== specs) {
      if (sameLayout(record.specs, specs)) record.specs = specs;
      else {
        record = relayout(record, specs, now);
        this.records.set(key, record);
      }
    }
    return record;
  }

  /** Inspects a batch of records and deletes those idle for long enough. */
  private sweep(now: number): void {
    for (let i = 0; i < SWEEP_BATCH; i++) {
      this.sweeper ??= this.records.keys();
      const next = this.sweeper.next();
      if (next.done) {
        this.sweeper = undefined;
        return;
      }
      // Unused for a while and equal to a fresh state: nothing would change if it were gone.
      const record = this.records.get(next.value);
      if (record && record.usedAtMs + EVICT_AFTER_IDLE_MS <= now && isIdle(record, now)) {
        this.records.delete(next.value);
      }
    }
  }

  async close(): Promise<void> {
    this.records.clear();
  }
}
