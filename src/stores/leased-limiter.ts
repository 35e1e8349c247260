/**
 * Leases: a gateway takes a slice of a key's budget from the shared store in the same round
 * trip as a decision, and spends it locally; most decisions then need no round trip at all.
 *
 * - A decision over the key's own rate and window dimensions only (no concurrency: every slot
 *   is a lease of its own in the shared store; no team or organisation scope) is made locally
 *   when this gateway holds enough of every dimension. Otherwise the held rest goes back and
 *   the request's cost plus a new slice is asked for in one script call (and, should the slice
 *   not fit, the cost alone).
 * - A slice is `fraction` of the dimension's limit. Everything spent locally was taken from the
 *   shared store first, so gateways together never admit more than a limit allows. What they
 *   may refuse early is what other gateways hold unspent: at most gateways × fraction × limit
 *   per dimension (three gateways at 0.5%: 1.5%), returned when a lease has been idle for
 *   `idleMs` (a refilled bucket takes nothing back, so a rate's unspent slice costs nothing
 *   once it would have refilled anyway).
 * - Refunds at settlement go to the lease (and back to the store with it); extra charges are
 *   taken from the lease when it holds enough, else charged in the store.
 * - Rate-limit headers report the store's remaining at the last round trip plus what this
 *   gateway holds: an estimate between round trips, exact at each.
 */
import type { Decision, DimensionSpec } from "../limits/dimension.ts";
import type {
  CheckRequest,
  HeldLease,
  LimiterStore,
  ReconcileRequest,
  ReplayRequest,
} from "../limits/limiter-store.ts";

interface Lease {
  specs: readonly DimensionSpec[];
  /** Budget held here, per dimension, in the dimension's unit. */
  held: number[];
  /** The store's answer at the last round trip, for headers between round trips. */
  base: Decision;
  usedAtMs: number;
}

export interface LeaseOptions {
  /** Share of a dimension's limit taken per slice (0.005 = 0.5%). */
  fraction: number;
  /** A lease unused this long gives its rest back. */
  idleMs?: number;
  /** Monotonic clock for idleness (ms). */
  now?: () => number;
}

/**
 * Decisions leases cannot serve locally: concurrency (every slot is its own lease in the store)
 * and shared scopes (a team's or an organisation's budget), which go to the store every time.
 */
const hasConcurrency = (specs: readonly DimensionSpec[]) =>
  specs.some((spec) => spec.kind === "concurrency" || spec.scope !== undefined);

export class LeasedLimiterStore implements LimiterStore {
  private readonly leases = new Map<string, Lease>();
  private readonly idleMs: number;
  private readonly now: () => number;
  private readonly sweeper: NodeJS.Timeout;
  /** Round trips to the shared store, for tests and metrics. */
  roundTrips = 0;

  constructor(
    private readonly shared: LimiterStore,
    private readonly options: LeaseOptions,
  ) {
    this.idleMs = options.idleMs ?? 1_000;
    this.now = options.now ?? (() => performance.now());
    this.sweeper = setInterval(() => void this.returnIdle(), Math.max(50, this.idleMs / 4));
    this.sweeper.unref();
  }

  private slice(spec: DimensionSpec): number {
    return Math.max(1, Math.floor(spec.limit * this.options.fraction));
  }

  check(request: CheckRequest): Promise<Decision> {
    if (request.dryRun || hasConcurrency(request.dimensions)) return this.viaStore(request);
    const lease = this.leases.get(request.key);
    if (lease && lease.specs === request.dimensions && covers(lease.held, request.costs)) {
      for (let i = 0; i < lease.held.length; i++)
        lease.held[i] = (lease.held[i] ?? 0) - (request.costs[i] ?? 0);
      lease.usedAtMs = this.now();
      return Promise.resolve(localDecision(lease));
    }
    return this.renew(request, lease);
  }

  private async viaStore(request: CheckRequest): Promise<Decision> {
    this.roundTrips++;
    return this.shared.check(request);
  }

  /** Gives back what the lease holds and asks for the cost plus a new slice, in one round trip. */
  private async renew(request: CheckRequest, lease: Lease | undefined): Promise<Decision> {
    const { key, dimensions, costs } = request;
    if (lease) {
      this.leases.delete(key);
      // Sent before the check on the same connection: the store sees the return first. If it
      // fails, the slice is lost to this window (an early refusal later), never admitted twice.
      this.giveBack(key, lease).catch(() => {});
    }
    const slices = dimensions.map((spec) => this.slice(spec));
    this.roundTrips++;
    const withSlice = await this.shared.check({
      key,
      dimensions,
      costs: costs.map((cost, i) => cost + (slices[i] ?? 0)),
    });
    if (withSlice.admitted) {
      const next: Lease = { specs: dimensions, held: slices, base: withSlice, usedAtMs: this.now() };
      // Another request of the key renewed meanwhile: keep both slices, in one lease.
      const concurrent = this.leases.get(key);
      if (concurrent && concurrent.specs === dimensions) {
        for (let i = 0; i < slices.length; i++) next.held[i] = (slices[i] ?? 0) + (concurrent.held[i] ?? 0);
      } else if (concurrent) this.giveBack(key, concurrent).catch(() => {});
      this.leases.set(key, next);
      return localDecision(next);
    }
    // Near the limit: the cost alone, no slice.
    this.roundTrips++;
    return this.shared.check({ key, dimensions, costs });
  }

  private giveBack(key: string, lease: Lease): Promise<void> {
    if (lease.held.every((amount) => amount <= 0)) return Promise.resolve();
    this.roundTrips++;
    return this.shared.reconcile({
      key,
      dimensions: lease.specs,
      deltas: lease.held.map((amount) => -amount),
    });
  }

  reconcile(request: ReconcileRequest): Promise<void> {
    const lease = this.leases.get(request.key);
    if (!lease || lease.specs !== request.dimensions || hasConcurrency(request.dimensions)) {
      this.roundTrips++;
      return this.shared.reconcile(request);
    }
    // Refunds join the lease; extra charges come out of it when it holds enough.
    const rest = request.deltas.map((delta, i) => {
      const held = lease.held[i] ?? 0;
      if (delta <= 0 || delta <= held) {
        lease.held[i] = held - delta;
        return 0;
      }
      return delta;
    });
    if (rest.every((delta) => delta === 0)) return Promise.resolve();
    this.roundTrips++;
    return this.shared.reconcile({ ...request, deltas: rest });
  }

  /** Returns the rest of every lease idle for `idleMs`. */
  async returnIdle(): Promise<void> {
    const now = this.now();
    const returns: Array<Promise<void>> = [];
    for (const [key, lease] of this.leases) {
      if (now - lease.usedAtMs < this.idleMs) continue;
      this.leases.delete(key);
      returns.push(this.giveBack(key, lease).catch(() => {}));
    }
    await Promise.all(returns);
  }

  replay(request: ReplayRequest): void | Promise<void> {
    return this.shared.replay?.(request);
  }

  /** Concurrency is never sliced: its leases live in the store. */
  keepAlive(leases: readonly HeldLease[]): void | Promise<void> {
    return this.shared.keepAlive(leases);
  }

  async ping(): Promise<void> {
    await this.shared.ping?.();
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    for (const lease of this.leases.values()) lease.usedAtMs = Number.NEGATIVE_INFINITY;
    await this.returnIdle();
    await this.shared.close();
  }
}

function covers(held: readonly number[], costs: readonly number[]): boolean {
  for (let i = 0; i < held.length; i++) if ((costs[i] ?? 0) > (held[i] ?? 0)) return false;
  return true;
}

/** An admitted decision from the lease: the store's last answer plus what is held here. */
function localDecision(lease: Lease): Decision {
  return {
    admitted: true,
    retryAfterMs: 0,
    atMs: lease.base.atMs,
    dimensions: lease.base.dimensions.map((dimension, i) => ({
      ...dimension,
      remaining: dimension.remaining + Math.max(0, lease.held[i] ?? 0),
    })),
  };
}
