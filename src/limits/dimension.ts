/** The kinds of limits a plan can place on a request, and what a decision reports for each. */

/**
 * Whose limit a dimension is. Without a scope it belongs to the request's key (an account);
 * with one it is shared by every request naming the same scope (a team, an organisation, one
 * API key), and is decided together with the key's own dimensions, all or nothing.
 */
export interface Scoped {
  scope?: string;
}

export interface RateSpec extends Scoped {
  kind: "rate";
  name: string;
  /** Tokens (or requests) per period; also the burst. */
  limit: number;
  periodMs: number;
}

export interface WindowSpec extends Scoped {
  kind: "window";
  name: string;
  limit: number;
  periodMs: number;
  /** Anchored windows repeat every period from this instant; without it a window starts with its first use. */
  anchorMs?: number;
}

export interface ConcurrencySpec extends Scoped {
  kind: "concurrency";
  name: string;
  limit: number;
  /**
   * A lease not kept alive within this time expires, so a crashed holder frees its slots
   * within it; a running request's gateway keeps its lease alive (LimiterStore.keepAlive).
   */
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
  /**
   * The instant the store decided at, on its own clock (a shared store may read its server's):
   * every time in the decision is on that clock, so waits are measured from here, never from
   * the caller's clock.
   */
  atMs: number;
}

export interface Lease {
  id: string;
  expiresAtMs: number;
}

/**
 * The state of one key across its dimensions: two numbers per rate or window dimension
 * (NaN = fresh) and a lease list per concurrency dimension. The first three dimensions' numbers
 * live in the object itself, the rest in `more`: a key's whole state is then usually a single
 * heap object, which is what keeps lookups fast when many keys are active.
 */
export class KeyState {
  a0 = Number.NaN;
  b0 = Number.NaN;
  a1 = Number.NaN;
  b1 = Number.NaN;
  a2 = Number.NaN;
  b2 = Number.NaN;
  more: number[] | null = null;
  leases: Array<Lease[] | undefined> | null = null;

  constructor(dimensions: number) {
    if (dimensions > 3) this.more = new Array<number>((dimensions - 3) * 2).fill(Number.NaN);
  }

  a(i: number): number {
    return i === 0
      ? this.a0
      : i === 1
        ? this.a1
        : i === 2
          ? this.a2
          : (this.more?.[2 * (i - 3)] ?? Number.NaN);
  }

  b(i: number): number {
    return i === 0
      ? this.b0
      : i === 1
        ? this.b1
        : i === 2
          ? this.b2
          : (this.more?.[2 * (i - 3) + 1] ?? Number.NaN);
  }

  set(i: number, a: number, b: number): void {
    if (i === 0) {
      this.a0 = a;
      this.b0 = b;
    } else if (i === 1) {
      this.a1 = a;
      this.b1 = b;
    } else if (i === 2) {
      this.a2 = a;
      this.b2 = b;
    } else {
      this.more ??= [];
      const more = this.more;
      more[2 * (i - 3)] = a;
      more[2 * (i - 3) + 1] = b;
    }
  }

  leasesOf(i: number): Lease[] | undefined {
    return this.leases?.[i];
  }

  setLeases(i: number, leases: Lease[]): void {
    this.leases ??= [];
    this.leases[i] = leases;
  }
}

/** What one algorithm step computes; reused across calls instead of allocated. */
export interface StepResult {
  admitAtMs: number;
  remaining: number;
  resetAtMs: number;
  a: number;
  b: number;
}
