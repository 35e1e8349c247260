/**
 * Limiter state in Redis, shared by every gateway process. One EVALSHA per decision and per
 * reconcile (ioredis's defineCommand reloads the script on NOSCRIPT); the script reads Redis's
 * own clock so hosts agree; every key of a limiter key shares one hash tag so the script
 * touches a single slot and runs unchanged on Redis Cluster. Admitted requests can leave a
 * charge record (charge-index.ts) so that any gateway refunds them if theirs dies.
 */
import { readFileSync } from "node:fs";
import { Cluster, type Redis, ReplyError } from "ioredis";
import type { Decision, DimensionResult, DimensionSpec } from "../limits/dimension.ts";
import {
  type CheckRequest,
  type HeldLease,
  type LimiterStore,
  LimiterUnavailableError,
  type ReconcileRequest,
  type RecordedRequests,
  type ReplayRequest,
} from "../limits/limiter-store.ts";
import { ChargeIndex, readChargeRecord } from "./charge-index.ts";
import {
  chargeRecordKey,
  type Owner,
  type ScriptOp,
  scriptArgs,
  type Tracking,
} from "./redis-limiter-keys.ts";

const SCRIPT = readFileSync(new URL("./lua/limiter.lua", import.meta.url), "utf8");

type ScriptClient = (Redis | Cluster) & {
  headroomLimiter(...args: Array<string | number>): Promise<number[]>;
};

export interface RedisLimiterOptions {
  /** Prefix of every key, e.g. "hr:" — tests use a unique one per run. */
  prefix?: string;
  /** Injected clock for tests; by default the script uses Redis's TIME. */
  now?: () => number;
}

/**
 * Lost records a sweep reads at a time, and at most how many batches one sweep takes: a gateway
 * that died with 10,000 streams open is swept in one go, a backlog beyond that in the next.
 */
const SWEEP_BATCH = 100;
const SWEEP_BATCHES = 100;
export class RedisLimiterStore implements LimiterStore {
  private readonly client: ScriptClient;
  private readonly prefix: string;
  private readonly now: (() => number) | undefined;

  /** Takes a connected ioredis client (standalone or Cluster); see `connectRedis`. */
  constructor(client: Redis | Cluster, options: RedisLimiterOptions = {}) {
    if (!("headroomLimiter" in client)) client.defineCommand("headroomLimiter", { lua: SCRIPT });
    this.client = client as ScriptClient;
    this.prefix = options.prefix ?? "hr:";
    this.now = options.now;
    this.charges = new ChargeIndex(client, `${this.prefix}charges`);
    // On a cluster the index lives in a slot of its own, so it is written apart from the script.
    this.indexInScript = !(client instanceof Cluster);
  }

  private readonly charges: ChargeIndex;

  private readonly indexInScript: boolean;

  readonly refundsLostRequests = true;
  private clockMs(): number {
    return this.now ? this.now() : Date.now();
  }

  /** A call's charge record, when it tracks one (the clock is read only then). */
  private tracking(request: CheckRequest | ReconcileRequest): Tracking | undefined {
    if (!this.tracked(request)) return undefined;
    return {
      record: chargeRecordKey(this.prefix, request, request.leaseId),
      requestId: "requestId" in request ? request.requestId : undefined,
      lostAtMs: this.clockMs() + request.refundIfLostAfterMs,
    };
  }

  /** Whether a call tracks the request's charges: with a lease id, asked for, not a peek. */
  private tracked(request: {
    leaseId?: string | undefined;
    refundIfLostAfterMs?: number | undefined;
    dryRun?: boolean;
  }): request is { leaseId: string; refundIfLostAfterMs: number } {
    return !request.dryRun && !!request.leaseId && request.refundIfLostAfterMs !== undefined;
  }

  private args(
    op: ScriptOp,
    request: Owner & { dimensions: readonly DimensionSpec[] },
    amounts: readonly number[],
    leaseId: string | undefined,
    atMs?: number,
    track?: Tracking,
  ): Array<string | number> {
    return scriptArgs({
      prefix: this.prefix,
      op,
      request,
      amounts,
      leaseId,
      now: atMs ?? (this.now ? this.now() : ""),
      track,
      indexKey: this.indexInScript ? this.charges.key : undefined,
    });
  }

  private run(args: Array<string | number>): Promise<number[]> {
    return this.answer(() => this.client.headroomLimiter(...args));
  }

  /** A call's answer; a Redis that could not answer fails with LimiterUnavailableError. */
  private async answer<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      // A script or command error is a bug to surface; anything else means Redis could not answer.
      const message = (error as Error).message;
      if (error instanceof ReplyError && !/LOADING|CLUSTERDOWN|TRYAGAIN|MASTERDOWN/.test(message))
        throw error;
      throw new LimiterUnavailableError(`Redis limiter unavailable: ${message}`, { cause: error });
    }
  }

  async check(request: CheckRequest): Promise<Decision> {
    const op = request.dryRun ? "peek" : "check";
    const track = this.tracking(request);
    // Indexed before the script runs: a gateway dying at any point after the charge leaves a
    // record the sweep finds. An entry without a record (refused, or never run) is dropped.
    // On a cluster the entry goes to another node: the decision waits for it too (in parallel), so
    // every sweep that starts after the decision sees the entry.
    const indexed = track && !this.indexInScript ? this.charges.add(track.record, track.lostAtMs) : undefined;
    const reply = await this.run(this.args(op, request, request.costs, request.leaseId, undefined, track));
    await indexed;
    if (track && !this.indexInScript && reply[0] !== 1) this.charges.remove(track.record);
    const dimensions: DimensionResult[] = [];
    for (let i = 0; i < request.dimensions.length; i++) {
      const at = 2 + i * 4;
      const admitAt = reply[at + 3] as number;
      dimensions.push({
        name: (request.dimensions[i] as DimensionSpec).name,
        limit: reply[at] as number,
        remaining: reply[at + 1] as number,
        resetAtMs: reply[at + 2] as number,
        admitAtMs: admitAt === -1 ? Number.POSITIVE_INFINITY : admitAt,
      });
    }
    const retry = reply[1] as number;
    return {
      admitted: reply[0] === 1,
      retryAfterMs: retry === -1 ? null : retry,
      dimensions,
      atMs: reply[2 + request.dimensions.length * 4] as number,
    };
  }

  async reconcile(request: ReconcileRequest): Promise<void> {
    const track = this.tracking(request);
    await this.run(this.args("reconcile", request, request.deltas, request.leaseId, undefined, track));
    if (track && !this.indexInScript) this.charges.remove(track.record);
  }

  async replay(request: ReplayRequest): Promise<void> {
    await this.run(this.args("replay", request, request.costs, undefined, request.atMs));
  }

  /**
   * One script call per request with concurrency leases and one index update per charge
   * record, pipelined with whatever else this tick sends.
   */
  async keepAlive(leases: readonly HeldLease[]): Promise<void> {
    const now = this.clockMs();
    const calls: Array<Promise<unknown>> = [];
    const kept: Array<[number, string]> = [];
    for (const lease of leases) {
      if (lease.dimensions.some((spec) => spec.kind === "concurrency"))
        calls.push(this.run(this.args("keep", lease, [], lease.leaseId)));
      if (this.tracked(lease))
        kept.push([now + lease.refundIfLostAfterMs, chargeRecordKey(this.prefix, lease, lease.leaseId)]);
    }
    if (kept.length > 0) calls.push(this.answer(() => this.charges.keep(kept)));
    await Promise.all(calls);
  }

  /**
   * Refunds requests whose gateway stopped keeping them alive: each due record is refunded by
   * the script, which marks it so (any number of gateways may sweep at once; one refunds).
   */
  async refundLost(recorded?: RecordedRequests): Promise<number> {
    await this.charges.flush();
    let refunded = 0;
    for (let batch = 0; batch < SWEEP_BATCHES; batch++) {
      const { count, more } = await this.refundBatch(recorded);
      refunded += count;
      if (!more) break;
    }
    return refunded;
  }

  /** One batch of due records: how many were refunded, and whether more may be due. */
  private async refundBatch(
    recorded: RecordedRequests | undefined,
  ): Promise<{ count: number; more: boolean }> {
    const due = await this.answer(() => this.charges.due(this.clockMs(), SWEEP_BATCH));
    if (due.length === 0) return { count: 0, more: false };
    const stored = await this.answer(() => Promise.all(due.map((record) => this.client.get(record))));
    const lost = due.flatMap((record, i) => readChargeRecord(record, stored[i]) ?? []);
    // If the ledger cannot say, nothing is refunded: the entries wait for the next sweep.
    const inLedger = recorded
      ? await recorded(lost.map((entry) => entry.requestId).filter(Boolean))
      : new Set();
    // One call per record, all sent together (auto-pipelined).
    const outcomes = await Promise.all(
      lost.map(async ({ record, leaseId, scopes, specs, keys, requestId }) => {
        if (inLedger.has(requestId)) {
          // Served and recorded; only its settlement was lost. Its estimate stays charged.
          await this.answer(() => this.client.del(record));
          return 0;
        }
        const now = this.now ? this.now() : "";
        const args = [
          keys.length + 1,
          ...keys,
          record,
          "refund",
          now,
          leaseId,
          specs,
          "[]",
          scopes,
          "track",
          0,
        ];
        return (await this.run(args)) as unknown as number;
      }),
    );
    const refunded = outcomes.filter((outcome) => outcome === 1).length;
    await this.answer(() => this.charges.drop(due));
    return { count: refunded, more: due.length === SWEEP_BATCH };
  }

  /** Resolves when Redis answers at all (the breaker's probe while it is down). */
  async ping(): Promise<void> {
    try {
      await this.client.ping();
    } catch (error) {
      throw new LimiterUnavailableError(`Redis limiter unavailable: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /**
   * Whether this gateway should rebuild Redis's windows from the ledger: true once per cold
   * Redis (a marker key that an empty Redis lacks), to exactly one of the gateways asking.
   */
  async claimRebuild(): Promise<boolean> {
    const marker = `${this.prefix}ledger-rebuilt`;
    try {
      return (await this.client.set(marker, String(Date.now()), "NX")) === "OK";
    } catch (error) {
      throw new LimiterUnavailableError(`Redis limiter unavailable: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }

  /** Calls `listener` whenever the connection (re)becomes ready: a restarted Redis may be empty. */
  onReady(listener: () => void): void {
    this.client.on("ready", listener);
  }

  async close(): Promise<void> {
    await this.charges.flush();
    this.client.disconnect();
  }
}
