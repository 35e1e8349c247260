/** The kinds of limits a plan can place on a request, and what a decision reports for each. */

export interface RateSpec {
  kind: "rate";
  name: string;
  /** Tokens (or requests) per period; also the burst. */
  limit: number;
  periodMs: number;
}

export interface WindowSpec {
  kind: "window";
  name: string;
  limit: number;
  periodMs: number;
  /** Anchored windows repeat every period from this instant; without it a window starts with its first use. */
  anchorMs?: number;
}

export interface ConcurrencySpec {
  kind: "concurrency";
  name: string;
  limit: number;
  /** A lease not released within this time expires, so a crashed holder never leaks a slot. */
  leaseMs: number;
}

export type DimensionSpec = RateSpec | WindowSpec | ConcurrencySpec;

export interface DimensionResult {
  name: string;
  limit: number;
  remaining: number;
  /** When this dimension is fully replenished (rate) or its window ends (window), ms since epoch. */
  resetAtMs: number;
  /** The earliest time this dimension admits the request; Infinity if it never can. */
  admitAtMs: number;
}

export interface Decision {
  admitted: boolean;
  /** Milliseconds until every dimension would admit the same request; null if none ever can. */
  retryAfterMs: number | null;
  dimensions: DimensionResult[];
}

/** A numeric state (rate: level×period and last; window: start and used). */
export type PairState = [number, number];

export interface Lease {
  id: string;
  expiresAtMs: number;
}

export type DimensionState = PairState | Lease[];
