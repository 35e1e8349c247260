/**
 * A circuit breaker per deployment: after `threshold` consecutive failures it opens and keeps
 * traffic away for `cooldownMs`; then one trial request at a time may pass (half-open), and
 * its success closes the breaker while its failure opens it again. Time is the injected clock.
 */
export type BreakerState = "closed" | "open" | "half_open";

export class CircuitBreaker {
  private failures = 0;
  /** 0 while closed; otherwise when the cooldown ends. */
  private openUntil = 0;
  private trialInFlight = false;

  constructor(
    private readonly threshold: number,
    private readonly cooldownMs: number,
    private readonly clock: () => number,
  ) {}

  get state(): BreakerState {
    if (this.openUntil === 0) return "closed";
    return this.clock() < this.openUntil ? "open" : "half_open";
  }

  /** Whether a request may go now; in half-open this takes the one trial slot. */
  tryAcquire(): boolean {
    const state = this.state;
    if (state === "closed") return true;
    if (state === "open" || this.trialInFlight) return false;
    this.trialInFlight = true;
    return true;
  }

  success(): void {
    this.failures = 0;
    this.openUntil = 0;
    this.trialInFlight = false;
  }

  failure(): void {
    this.trialInFlight = false;
    this.failures++;
    // A failed trial reopens at once; a closed breaker opens at the threshold.
    if (this.openUntil !== 0 || this.failures >= this.threshold)
      this.openUntil = this.clock() + this.cooldownMs;
  }

  /** A request that ended without a verdict (the client left) gives its trial slot back. */
  release(): void {
    this.trialInFlight = false;
  }
}
