/**
 * What a request will probably generate, per account: a running average of its replies' output
 * tokens (the newest weighing AVERAGE_WEIGHT), never above the request's max_tokens. The
 * limiter charges it up front and settles the difference when the reply ends. Bounded: past
 * `capacity` accounts the one heard from least recently is forgotten (it starts again from the
 * default), so a gateway serving millions of keys keeps a fixed amount of memory.
 */

/** Output tokens assumed for an account with no history yet. */
export const DEFAULT_OUTPUT_ESTIMATE = 256;
/** Weight of the newest response in the running average of output tokens. */
const AVERAGE_WEIGHT = 0.2;
/** Accounts remembered by default (≈100 bytes each). */
const DEFAULT_CAPACITY = 100_000;

export class OutputEstimates {
  /** Insertion order is recency: a touched account is moved to the end. */
  private readonly averages = new Map<string, number>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /** The estimate for an account's next request of at most `maxTokens`. */
  estimate(account: string, maxTokens: number): number {
    return Math.min(maxTokens, Math.round(this.averages.get(account) ?? DEFAULT_OUTPUT_ESTIMATE));
  }

  /** Learns from a finished reply. */
  observe(account: string, outputTokens: number): void {
    if (outputTokens <= 0) return;
    const previous = this.averages.get(account) ?? DEFAULT_OUTPUT_ESTIMATE;
    this.averages.delete(account);
    this.averages.set(account, previous + AVERAGE_WEIGHT * (outputTokens - previous));
    if (this.averages.size > this.capacity) {
      const oldest = this.averages.keys().next().value as string;
      this.averages.delete(oldest);
    }
  }

  get size(): number {
    return this.averages.size;
  }
}
