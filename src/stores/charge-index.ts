/**
 * Charge records and their index (docs/limiter.md, "Requests lost with their gateway"). The
 * limiter script keeps a record per admitted request beside its key's state; the index holds
 * every record's key in one sorted set, scored by when its request is lost unless kept alive,
 * so a sweep finds lost requests without scanning keys. On standalone Redis the script writes
 * and removes index entries itself, with the charge. On a cluster the index has a slot of its
 * own: entries are added here before the charging script is sent, and removals are gathered
 * into one ZREM.
 */
import type { Cluster, Redis } from "ioredis";

/**
 * How long a charge record outlives its last keep-alive at most: a refund after the weekly
 * window it was charged to has ended changes nothing, and records of settled requests are
 * deleted at settlement, so only lost requests' records wait this out.
 */
export const CHARGE_RECORD_TTL_MS = 8 * 24 * 3_600_000;

/**
 * How long index removals wait to go out together, as one ZREM. (Additions cannot wait: a
 * record must be indexed before its charge, or a gateway dying in between leaves it unfound.)
 */
const REMOVAL_FLUSH_MS = 50;

/** A record whose request may be lost: what the script needs to refund it. */
export interface ChargeRecord {
  record: string;
  leaseId: string;
  /** The number of scopes of the charging call, and its dimensions as the script reads them. */
  scopes: string;
  specs: string;
  /** The state and lease keys of the charging call. */
  keys: string[];
  requestId: string;
}

/**
 * A stored record (lua/limiter.lua: "<costs>\n<lease id>\n<scopes>\n<dimensions>\n<keys>\n
 * <request id>"); undefined when it is gone (settled) or starts with "R" (refunded already).
 */
export function readChargeRecord(record: string, value: string | null | undefined): ChargeRecord | undefined {
  if (value === null || value === undefined || value.startsWith("R")) return undefined;
  const [, leaseId = "", scopes = "1", specs = "[]", keys = "[]", requestId = ""] = value.split("\n");
  return { record, leaseId, scopes, specs, keys: JSON.parse(keys) as string[], requestId };
}

export class ChargeIndex {
  private removals = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: Redis | Cluster,
    /** The sorted set's key. */
    readonly key: string,
  ) {}

  /**
   * Indexes a record, sent at once: ZADD is kept out of ioredis's auto-pipeline (redis-limiter.ts
   * connects so), so it reaches Redis before a script sent after it. Resolves when Redis has it;
   * never rejects: a lost entry leaves its charge standing, as if records did not exist.
   */
  add(record: string, lostAtMs: number): Promise<unknown> {
    this.removals.delete(record);
    return this.client.zadd(this.key, lostAtMs, record).catch(() => {});
  }

  /** Drops a settled (or refused) request's entry with the next batch of removals. */
  remove(record: string): void {
    this.removals.add(record);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => void this.flush(), REMOVAL_FLUSH_MS);
    this.flushTimer.unref();
  }

  /** Sends the removals gathered since the last flush. */
  async flush(): Promise<void> {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.removals.size === 0) return;
    const removals = [...this.removals];
    this.removals = new Set();
    // A lost removal leaves an entry whose record is gone: the sweep drops it when it is due.
    await this.client.zrem(this.key, ...removals).catch(() => {});
  }

  /**
   * Moves entries' lost-at times on (running requests kept alive). XX: an entry a sweep
   * already took (its request was refunded) is not brought back.
   */
  keep(entries: ReadonlyArray<readonly [lostAtMs: number, record: string]>): Promise<unknown> {
    return this.client.zadd(this.key, "XX", ...entries.flat());
  }

  /** Up to `limit` records whose requests are lost by `nowMs`. */
  due(nowMs: number, limit: number): Promise<string[]> {
    return this.client.zrangebyscore(this.key, "-inf", nowMs, "LIMIT", 0, limit);
  }

  /** Removes swept entries. */
  drop(records: readonly string[]): Promise<unknown> {
    return this.client.zrem(this.key, ...records);
  }
}
