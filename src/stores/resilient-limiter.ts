/**
 * The shared limiter store behind a breaker (decision 6 of DESIGN.md: failure is a setting).
 *
 * The first call the store cannot answer marks it down: one log line, the gauge drops to 0, and
 * from then on no request pays the store's timeout — a background probe asks it every
 * `probeMs`, and the first answer marks it up again (one more log line). While it is down:
 * - `open` decides on a local limiter that starts from what this process last knew of each
 *   key (the usage the store reported on its last decision for it), not from empty counters;
 *   the window usage admitted locally is replayed into the store when it returns, so a long
 *   window does not forget the outage.
 * - `closed` refuses every request with 503 and retry-after.
 */
import { HeadroomError } from "../common/errors.ts";
import type { Decision, DimensionSpec } from "../limits/dimension.ts";
import {
  type CheckRequest,
  type HeldLease,
  type LimiterStore,
  LimiterUnavailableError,
  type ReconcileRequest,
  type RecordedRequests,
  type ReplayRequest,
} from "../limits/limiter-store.ts";
import { MemoryLimiterStore } from "./memory-limiter.ts";

export type OnStoreFailure = "open" | "closed";

/** A store that can be asked whether it answers at all. */
export type ProbedLimiterStore = LimiterStore & Required<Pick<LimiterStore, "ping">>;

export interface ResilientLimiterOptions {
  onFailure: OnStoreFailure;
  /** How often a down store is asked whether it is back. */
  probeMs: number;
  clock: () => number;
  /** Where the state changes are written (a pino logger). */
  logger: { warn(fields: object, message: string): void; info(fields: object, message: string): void };
  /** Told each failed store call, and each change of state (for /metrics). */
  onError?: () => void;
  onStateChange?: (up: boolean) => void;
  /** Keys whose last decision is remembered for seeding; the oldest are forgotten beyond it. */
  maxKnownKeys?: number;
}

/** What the store last said about a key: usage per dimension name, and when each resets. */
interface KnownUsage {
  atMs: number;
  used: Map<string, { used: number; resetAtMs: number }>;
}

/** Window usage admitted locally during an outage, summed per key, for the store's return. */
interface OutageUsage {
  slot: string | undefined;
  atMs: number;
  /** By dimension name, so a policy change during the outage keeps what came before it. */
  byName: Map<string, { spec: DimensionSpec; cost: number }>;
}

export class ResilientLimiterStore implements LimiterStore {
  private up = true;
  private downSinceMs = 0;
  private probe: NodeJS.Timeout | undefined;
  private local: MemoryLimiterStore | undefined;
  /** Keys and scopes the local limiter was already seeded with in this outage. */
  private readonly seeded = new Set<string>();
  private readonly known = new Map<string, KnownUsage>();
  private outage = new Map<string, OutageUsage>();
  /** Requests settled locally whose charge records the store still holds. */
  private unsettled: ReconcileRequest[] = [];
  private readonly recoveredListeners: Array<() => void> = [];
  private readonly maxKnownKeys: number;

  constructor(
    private readonly shared: ProbedLimiterStore,
    private readonly options: ResilientLimiterOptions,
  ) {
    this.maxKnownKeys = options.maxKnownKeys ?? 100_000;
  }

  /** Whether the store answered its last call. */
  get isUp(): boolean {
    return this.up;
  }

  /** Calls `listener` each time the store answers again after an outage. */
  onRecovered(listener: () => void): void {
    this.recoveredListeners.push(listener);
  }

  async check(request: CheckRequest): Promise<Decision> {
    if (this.up) {
      try {
        const decision = await this.shared.check(request);
        if (!request.dryRun) this.remember(request, decision);
        return decision;
      } catch (error) {
        this.failed(error);
      }
    }
    const local = this.localFor(request);
    const decision = local.checkSync(request);
    if (decision.admitted && !request.dryRun) this.addOutageUsage(request, request.costs);
    return decision;
  }

  async reconcile(request: ReconcileRequest): Promise<void> {
    if (this.up) {
      try {
        await this.shared.reconcile(request);
        this.rememberDeltas(request);
        return;
      } catch (error) {
        this.failed(error);
      }
    }
    this.localFor(request).reconcileSync(request);
    this.addOutageUsage(request, request.deltas);
    // Its charge record in the store must end too, or a sweep would refund what the outage
    // replay charges: ended with a settlement of nothing once the store answers.
    if (request.refundIfLostAfterMs !== undefined && this.unsettled.length < this.maxKnownKeys)
      this.unsettled.push({ ...request, deltas: request.deltas.map(() => 0) });
  }

  get refundsLostRequests(): boolean {
    return this.shared.refundsLostRequests === true;
  }

  /** Sweeps only while the store answers; a sweep that fails leaves the records for the next. */
  async refundLost(recorded?: RecordedRequests): Promise<number> {
    if (!this.up || !this.shared.refundLost) return 0;
    try {
      return await this.shared.refundLost(recorded);
    } catch (error) {
      this.failed(error);
      return 0;
    }
  }

  replay(request: ReplayRequest): void | Promise<void> {
    return this.shared.replay?.(request);
  }

  /**
   * Keeps leases alive where they are decided now. After an outage the store gets every running
   * request's lease back at the next call, including those admitted locally meanwhile.
   */
  async keepAlive(leases: readonly HeldLease[]): Promise<void> {
    if (this.up) {
      try {
        await this.shared.keepAlive(leases);
        return;
      } catch (error) {
        this.failed(error);
      }
    }
    this.local?.keepAlive(leases);
  }

  /** Takes the window usage admitted locally during the last outage (once). */
  takeOutageUsage(): ReplayRequest[] {
    const entries = [...this.outage].map(([key, usage]) => {
      const charged = [...usage.byName.values()];
      return {
        key,
        slot: usage.slot,
        dimensions: charged.map(({ spec }) => spec),
        atMs: usage.atMs,
        costs: charged.map(({ cost }) => Math.max(0, cost)),
      };
    });
    this.outage = new Map();
    return entries;
  }

  async close(): Promise<void> {
    clearInterval(this.probe);
    await this.shared.close();
  }

  private failed(error: unknown): void {
    if (!(error instanceof LimiterUnavailableError)) throw error;
    this.options.onError?.();
    if (!this.up) return;
    this.up = false;
    this.downSinceMs = Date.now();
    this.local = undefined;
    this.seeded.clear();
    const decides =
      this.options.onFailure === "open" ? "deciding locally (fail open)" : "refusing with 503 (fail closed)";
    this.options.logger.warn(
      { reason: error.message },
      `limiter store unavailable: ${decides} until it answers`,
    );
    this.options.onStateChange?.(false);
    this.probe = setInterval(() => void this.ask(), this.options.probeMs);
    this.probe.unref();
  }

  private async ask(): Promise<void> {
    try {
      await this.shared.ping();
    } catch {
      return;
    }
    if (this.up) return;
    clearInterval(this.probe);
    this.probe = undefined;
    this.up = true;
    this.local = undefined;
    this.options.logger.info(
      { downMs: Date.now() - this.downSinceMs },
      "limiter store answers again: deciding on it",
    );
    this.options.onStateChange?.(true);
    const unsettled = this.unsettled;
    this.unsettled = [];
    for (const request of unsettled) this.shared.reconcile(request).catch(() => {});
    for (const listener of this.recoveredListeners) listener();
  }

  /** The local limiter for a request while the store is down, seeded for its key on first use. */
  private localFor(request: CheckRequest | ReconcileRequest): MemoryLimiterStore {
    if (this.options.onFailure === "closed") {
      const seconds = Math.max(1, Math.ceil(this.options.probeMs / 1000));
      throw new HeadroomError("limiter_unavailable", `Rate limiter unavailable; retry after ${seconds} s.`, {
        headers: { "retry-after": String(seconds) },
      });
    }
    this.local ??= new MemoryLimiterStore({ now: this.options.clock });
    if (!this.seeded.has(request.key)) this.seed(this.local, request);
    return this.local;
  }

  /**
   * Charges the local limiter with what the store last reported for this key (and for scopes
   * not seeded yet): a bucket less what it has refilled since, a window into the same window
   * (started where the store's started) unless it has reset since.
   */
  private seed(local: MemoryLimiterStore, request: CheckRequest | ReconcileRequest): void {
    this.seeded.add(request.key);
    const known = this.known.get(request.key);
    if (!known) return;
    const nowMs = this.options.clock();
    const { key, slot, dimensions } = request;
    const bucketDeltas = dimensions.map(() => 0);
    dimensions.forEach((spec, i) => {
      const last = known.used.get(spec.name);
      if (!last || (spec.scope !== undefined && this.seeded.has(`scope:${spec.scope}`))) return;
      if (spec.kind === "rate") {
        const refilled = Math.floor(((nowMs - known.atMs) * spec.limit) / spec.periodMs);
        bucketDeltas[i] = Math.max(0, last.used - refilled);
      } else if (spec.kind === "window" && last.resetAtMs > nowMs) {
        const costs = dimensions.map((_, at) => (at === i ? last.used : 0));
        local.replay({ key, slot, dimensions, atMs: last.resetAtMs - spec.periodMs, costs });
      }
    });
    for (const spec of dimensions) if (spec.scope !== undefined) this.seeded.add(`scope:${spec.scope}`);
    local.reconcileSync({ key, slot, dimensions, deltas: bucketDeltas });
  }

  private remember(request: CheckRequest, decision: Decision): void {
    const used = new Map<string, { used: number; resetAtMs: number }>();
    for (const result of decision.dimensions) {
      used.set(result.name, {
        used: Math.max(0, result.limit - result.remaining),
        resetAtMs: result.resetAtMs,
      });
    }
    // Re-inserting moves the key to the end: the map's first entry is the least recently seen.
    this.known.delete(request.key);
    this.known.set(request.key, { atMs: this.options.clock(), used });
    if (this.known.size > this.maxKnownKeys) {
      const oldest = this.known.keys().next().value;
      if (oldest !== undefined) this.known.delete(oldest);
    }
  }

  /** What a reconcile changed, so the remembered usage stays what the store holds. */
  private rememberDeltas(request: ReconcileRequest): void {
    const known = this.known.get(request.key);
    if (!known) return;
    request.dimensions.forEach((spec, i) => {
      const last = known.used.get(spec.name);
      if (last && spec.kind !== "concurrency") last.used = Math.max(0, last.used + (request.deltas[i] ?? 0));
    });
  }

  private addOutageUsage(request: CheckRequest | ReconcileRequest, amounts: readonly number[]): void {
    let usage = this.outage.get(request.key);
    if (!usage) {
      usage = { slot: request.slot, atMs: this.options.clock(), byName: new Map() };
      this.outage.set(request.key, usage);
    }
    request.dimensions.forEach((spec, i) => {
      if (spec.kind !== "window") return; // rates and concurrency are short-lived
      const entry = (usage as OutageUsage).byName.get(spec.name);
      const amount = amounts[i] ?? 0;
      if (entry) entry.cost += amount;
      else (usage as OutageUsage).byName.set(spec.name, { spec, cost: amount });
    });
  }
}
