/**
 * Priority load shedding for one upstream. Demand is the requests in flight, each drawing the
 * decode rate of its model (tokens/s); capacity is what the upstream can decode at once (the
 * simulated pool knows its slots; a real upstream is configured with one and corrects it from
 * its own 429/529 answers). As utilisation rises, lower priorities hit their ceiling first:
 * priority p is admitted while utilisation < floor + (p / 9) × (ceiling − floor), so the lowest
 * is shed from `floor` (half the capacity) and the highest only when even the queue is full.
 *
 * Pure bookkeeping, no I/O: the edge asks `tryAdmit` and calls the returned release when done.
 */

export interface AdmissionOptions {
  /** Concurrent sequences the upstream decodes at full speed (a function when it moves with time). */
  capacity: number | (() => number);
  /** Utilisation (in-flight / capacity) the highest priority may reach; > 1 uses a queue. */
  ceiling?: number;
  /** Utilisation from which the lowest priority is shed. */
  floor?: number;
}

export interface AdmissionStats {
  inFlight: number;
  demandTokensPerSecond: number;
  capacityTokensPerSecond: number;
  effectiveCapacity: number;
  shed: number;
}

const MAX_PRIORITY = 9;

export class AdmissionController {
  private inFlight = 0;
  private demandTps = 0;
  private shedCount = 0;
  /** Share of the configured capacity the upstream really holds, learned from its 429/529s. */
  private learned = 1;
  private readonly ceiling: number;
  private readonly floor: number;

  constructor(private readonly options: AdmissionOptions) {
    this.ceiling = options.ceiling ?? 1;
    this.floor = options.floor ?? 0.5;
  }

  private configured(): number {
    return typeof this.options.capacity === "function" ? this.options.capacity() : this.options.capacity;
  }

  /** The capacity now: configured (it may move with the fleet) times what was learned. */
  private effectiveCapacity(): number {
    return this.configured() * this.learned;
  }

  /** The utilisation up to which a priority is admitted. */
  thresholdFor(priority: number): number {
    const p = Math.min(MAX_PRIORITY, Math.max(0, priority)) / MAX_PRIORITY;
    return this.floor + p * (this.ceiling - this.floor);
  }

  /** Admits and returns a release function, or returns undefined to shed this request. */
  tryAdmit(priority: number, tokensPerSecond: number): (() => void) | undefined {
    const utilisation = (this.inFlight + 1) / this.effectiveCapacity();
    if (utilisation > this.thresholdFor(priority)) {
      this.shedCount++;
      return undefined;
    }
    this.inFlight++;
    this.demandTps += tokensPerSecond;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.demandTps -= tokensPerSecond;
    };
  }

  /** The upstream answered 429/529: it holds less than we thought (multiplicative decrease). */
  upstreamOverloaded(): void {
    const configured = this.configured();
    this.learned = Math.max(
      1 / configured,
      (Math.min(configured * this.learned, this.inFlight) * 0.9) / configured,
    );
  }

  /** A success: creep back towards the configured capacity (additive increase). */
  upstreamSucceeded(): void {
    this.learned = Math.min(1, this.learned + 0.1 / this.configured());
  }

  stats(perStreamTps: number): AdmissionStats {
    return {
      inFlight: this.inFlight,
      demandTokensPerSecond: this.demandTps,
      capacityTokensPerSecond: this.effectiveCapacity() * perStreamTps,
      effectiveCapacity: this.effectiveCapacity(),
      shed: this.shedCount,
    };
  }
}
