/**
 * One truth for capacity: the fleet model at the current time feeds both the policies'
 * capacity scaling (limits × capacity(t) / baseline) and the gateway's simulated GPU pool (its
 * concurrent streams and each model's decode speed), so a deal that adds GPUs on a date shows
 * up everywhere on that date.
 */
import type { CapacityProvider } from "../plans/capacity-provider.ts";
import { loadCalibratedCatalog } from "./calibration.ts";
import type { Fleet } from "./fleet-schema.ts";
import type { Gpu } from "./gpu-catalog.ts";
import { capacityAt, fullFleetServing, readFleetFile, workloadOf } from "./timeline.ts";

const BUCKET_MS = 10 * 60_000;

export class FleetCapacity implements CapacityProvider {
  private readonly cache = new Map<
    number,
    {
      tokensPerSecond: Record<string, number>;
      streamRate: Record<string, number>;
      prefillRate: Record<string, number>;
    }
  >();

  constructor(
    private readonly fleet: Fleet,
    private readonly catalog: Map<string, Gpu>,
  ) {}

  private at(nowMs: number) {
    const bucket = Math.floor(nowMs / BUCKET_MS) * BUCKET_MS;
    let entry = this.cache.get(bucket);
    if (!entry) {
      const capacity = capacityAt(this.fleet, this.catalog, bucket);
      const serving = fullFleetServing(this.fleet, this.catalog, bucket);
      const streamRate: Record<string, number> = {};
      const prefillRate: Record<string, number> = {};
      this.fleet.models.forEach((model, f) => {
        const one = serving[f];
        // The speed a stream sees, over the kinds that serve the family weighed by their slots;
        // the prompt rate of one idle replica, from the prefill of the fleet's uncached prompt.
        streamRate[model.family] = one && one.slots > 0 ? one.tokensPerS / one.slots : 0;
        const workload = workloadOf(this.fleet, model);
        const uncached = workload.inputTokens * (1 - (workload.cacheHitShare ?? 0));
        prefillRate[model.family] = one && one.prefillS > 0 ? uncached / one.prefillS : 0;
      });
      entry = { tokensPerSecond: capacity.tokensPerSecond, streamRate, prefillRate };
      if (this.cache.size > 1_000) this.cache.clear();
      this.cache.set(bucket, entry);
    }
    return entry;
  }

  /** Output tokens/s the fleet gives a model family at `nowMs`. */
  capacityAt(nowMs: number, family: string): number {
    return this.at(nowMs).tokensPerSecond[family] ?? 0;
  }

  /** Decode tokens/s of one stream of a family at `nowMs` (0 if the fleet does not serve it). */
  streamRateAt(nowMs: number, family: string): number {
    return this.at(nowMs).streamRate[family] ?? 0;
  }

  /** Prompt tokens/s one idle replica of a family prefills at `nowMs` (0 if not served). */
  prefillRateAt(nowMs: number, family: string): number {
    return this.at(nowMs).prefillRate[family] ?? 0;
  }

  /** Concurrent streams a gateway serving `share` of the fleet can run: Σ capacity / stream rate. */
  streamsAt(nowMs: number, share: number): number {
    const { tokensPerSecond, streamRate } = this.at(nowMs);
    let streams = 0;
    for (const [family, tps] of Object.entries(tokensPerSecond)) {
      const rate = streamRate[family] ?? 0;
      if (rate > 0) streams += tps / rate;
    }
    return Math.max(1, Math.floor(streams * share));
  }
}

/** The capacity of the fleet in a fleet file, on the calibrated GPU catalog. */
export function loadFleetCapacity(file: string): FleetCapacity {
  const catalog = loadCalibratedCatalog();
  return new FleetCapacity(readFleetFile(file, catalog), catalog);
}
