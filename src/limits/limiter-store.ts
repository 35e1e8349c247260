/**
 * Where limiter state lives. Stores persist state and run the same algorithms (limits/);
 * they hold no policy. Memory and Redis implement this and pass one contract suite.
 */
import type { Decision, DimensionSpec } from "./dimension.ts";

export interface CheckRequest {
  /**
   * Whose limits: every dimension of one key is decided together (an account, a key…), with
   * any dimensions of other scopes the list names (DimensionSpec.scope), all or nothing.
   */
  key: string;
  /**
   * What the key and every scope of the request share on Redis Cluster (its hash tag), so one
   * script sees them all: the organisation when there is one. Defaults to the key.
   */
  slot?: string;
  dimensions: readonly DimensionSpec[];
  /** Cost per dimension, in its unit (requests, tokens, usage units); ignored for concurrency. */
  costs: readonly number[];
  /** Identifies this request's concurrency lease, released by reconcile. */
  leaseId?: string;
  /** Decide without consuming anything (and without starting a window): a look at the limits. */
  dryRun?: boolean;
  /**
   * With a store that `refundsLostRequests` and a lease id: keep a record of what an admitted
   * request was charged, refunded by any gateway (refundLost) once no one has kept the request
   * alive for this long — its gateway died, so it can never settle.
   */
  refundIfLostAfterMs?: number;
  /** The request's id, kept in its charge record: a lost request the ledger holds is not refunded. */
  requestId?: string;
}

export interface ReconcileRequest {
  key: string;
  slot?: string;
  dimensions: readonly DimensionSpec[];
  /** Actual minus estimated cost per dimension: positive charges more, negative refunds. */
  deltas: readonly number[];
  leaseId?: string;
  /** The request was checked with this; its settlement ends its charge record. */
  refundIfLostAfterMs?: number;
}

/** A concurrency lease whose request is still running, to be kept from expiring. */
export interface HeldLease {
  key: string;
  slot?: string | undefined;
  dimensions: readonly DimensionSpec[];
  leaseId: string;
  /** The request's charge record is kept alive too (CheckRequest.refundIfLostAfterMs). */
  refundIfLostAfterMs?: number | undefined;
}

/** Usage served in the past, replayed into a key's windows (rebuilding them from the ledger). */
export interface ReplayRequest {
  key: string;
  slot?: string;
  dimensions: readonly DimensionSpec[];
  /** When the usage was served (ms since epoch). */
  atMs: number;
  costs: readonly number[];
}

export interface LimiterStore {
  check(request: CheckRequest): Promise<Decision>;
  reconcile(request: ReconcileRequest): Promise<void>;
  /** Stores that live in this process decide without a promise (the request path's fast lane). */
  checkSync?(request: CheckRequest): Decision;
  reconcileSync?(request: ReconcileRequest): void;
  /** Charges past usage to its windows, never refusing (see limits/window.ts chargeWindow). */
  replay?(request: ReplayRequest): void | Promise<void>;
  /**
   * Extends each held lease to its dimension's `leaseMs` from now (putting it back if it had
   * expired): called for every running request every third of `leaseMs`, so only the leases
   * of a gateway that stopped calling (crashed, cut off) expire.
   */
  keepAlive(leases: readonly HeldLease[]): void | Promise<void>;
  /**
   * A store shared by gateways that may die with requests running: it keeps charge records
   * (CheckRequest.refundIfLostAfterMs) and refunds those of lost requests. A store living in
   * one process has no need: it dies with its requests, and its windows are rebuilt from the
   * ledger, where a lost request has no row.
   */
  readonly refundsLostRequests?: boolean;
  /**
   * Refunds the charges of requests no one kept alive in time, once each; how many. Those
   * `recorded` says the ledger holds (their gateway died after recording, before settling)
   * keep their charge: refunding them would take from the windows what the ledger bills.
   */
  refundLost?(recorded?: RecordedRequests): Promise<number>;
  /** Resolves when a shared store answers at all; rejects with LimiterUnavailableError. */
  ping?(): Promise<void>;
  close(): Promise<void>;
}

/** Which of these request ids the ledger holds a row for. */
export type RecordedRequests = (requestIds: readonly string[]) => Promise<Set<string>>;

/** The store could not answer in time (Redis down, partitioned or too slow). */
export class LimiterUnavailableError extends Error {
  override name = "LimiterUnavailableError";
}
