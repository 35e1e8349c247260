/**
 * One truth for capacity: the fleet model at the current time feeds both the policies'
 * capacity scaling (limits × capacity(t) / baseline) and the gateway's simulated GPU pool (its
 * concurrent streams and each model's decode speed), so a deal that adds GPUs on a date shows
 * up everywhere on that date.
 */
import type { CapacityProvider } from "../plans/capacity-provider.ts";
import { loadCalibratedCatalog } from "./calibration.ts";
import type { Fleet, FleetModel } from "./fleet-schema.ts";
import type { Gpu } from "./gpu-catalog.ts";
import { capacityAt, poolsOnline, readFleetFile, throughputOf } from "./timeline.ts";

const BUCKET_MS = 10 * 60_000;

export class FleetCapacity implements CapacityProvider {
  private readonly cache = new Map<
    number,
    { tokensPerSecond: Record<string, number>; streamRate: Record<string, number> }
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
      const streamRate: Record<string, number> = {};
      for (const model of this.fleet.models) streamRate[model.family] = this.streamRateOf(model, bucket);
      entry = { tokensPerSecond: capacity.tokensPerSecond, streamRate };
      if (this.cache.size > 1_000) this.cache.clear();
      this.cache.set(bucket, entry);
    }
    return entry;
  }

  /** Decode speed one stream sees at full load, on the GPU kind with most GPUs online. */
  private streamRateOf(model: FleetModel, atMs: number): number {
    const byKind = new Map<string, number>();
    for (const pool of poolsOnline(this.fleet, this.catalog, atMs))
      byKind.set(pool.gpu, (byKind.get(pool.gpu) ?? 0) + pool.online);
    const [kind] = [...byKind.entries()].sort((a, b) => b[1] - a[1])[0] ?? [];
    const gpu = kind ? this.catalog.get(kind) : undefined;
    if (!gpu) return 0;
    return throughputOf(this.fleet, model, gpu).decodeTokensPerSecondPerStream;
  }

  /** Output tokens/s the fleet gives a model family at `nowMs`. */
  capacityAt(nowMs: number, family: string): number {
    return this.at(nowMs).tokensPerSecond[family] ?? 0;
  }

  /** Decode tokens/s of one stream of a family at `nowMs` (0 if the fleet does not serve it). */
  streamRateAt(nowMs: number, family: string): number {
    return this.at(nowMs).streamRate[family] ?? 0;
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
