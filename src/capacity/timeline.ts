import { ConfigError, readYamlFile } from "../config/yaml-file.ts";
import { type Fleet, type FleetModel, fleetSchema, type Pool, type Site } from "./fleet-schema.ts";
import type { Gpu } from "./gpu-catalog.ts";
import { type Architecture, genericArchitecture, loadModelCatalog, shapeOf } from "./model-catalog.ts";
import { gpusOnlineAt, type OrbitalPowerSystem, orbitalPeriodS, sunSynchronousBetaRad } from "./orbit.ts";
import { type ModelProfile, roofline, type Workload } from "./roofline.ts";

export function readFleetFile(file: string, catalog: Map<string, Gpu>): Fleet {
  const fleet = readYamlFile(file, fleetSchema);
  const problems: string[] = [];
  const models = loadModelCatalog();
  for (const [m, model] of fleet.models.entries()) {
    if (typeof model.architecture === "string" && !models.has(model.architecture))
      problems.push(
        `${file}: models.${m}.architecture: no model "${model.architecture}" in data/models.yaml (known: ${[...models.keys()].join(", ")})`,
      );
  }
  for (const [s, site] of fleet.sites.entries()) {
    for (const [p, pool] of site.pools.entries()) {
      if (!catalog.has(pool.gpu))
        problems.push(`${file}: sites.${s}.pools.${p}.gpu: no GPU "${pool.gpu}" in the catalog`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems.join("\n"));
  return fleet;
}

function poolActive(pool: Pool, nowMs: number): boolean {
  if (pool.from && Date.parse(pool.from) > nowMs) return false;
  if (pool.until && Date.parse(pool.until) <= nowMs) return false;
  return true;
}

export interface PoolOnline {
  site: string;
  gpu: string;
  /** GPUs installed by this instant (a ramping pool counts what has been brought in so far). */
  installed: number;
  /** GPUs serving: installed, less the fleet's down share, within the site's power. */
  online: number;
  deal?: string;
}

const DAY_MS = 86_400_000;

/** GPUs of a pool installed at an instant: all of them, or the part of its ramp done by then. */
export function installedAt(pool: Pool, nowMs: number): number {
  if (!poolActive(pool, nowMs)) return 0;
  const rampDays = pool.ramp_days ?? 0;
  if (!pool.from || rampDays <= 0) return pool.count;
  const done = (nowMs - Date.parse(pool.from)) / (rampDays * DAY_MS);
  return Math.floor(pool.count * Math.min(1, Math.max(0, done)));
}

const degrees = (d: number) => (d * Math.PI) / 180;

/** All-in watts of one GPU of a pool at a site. */
function wattsPerGpu(site: Site, gpu: Gpu): number {
  return site.kind === "terrestrial"
    ? ((gpu.tdp_watts ?? 700) + site.overhead_watts_per_gpu) * site.pue
    : site.watts_per_gpu;
}

/** Output tokens/s of one GPU for the fleet's model mix (allocation-weighted). */
export function mixTokensPerGpu(fleet: Fleet, gpu: Gpu): number {
  const keeps = fleet.models.map((model) => keepsSpeed(fleet, model, gpu));
  const anyKept = keeps.some(Boolean);
  let total = 0;
  let served = 0;
  fleet.models.forEach((model, i) => {
    if (anyKept && !keeps[i]) return;
    const share = fleet.allocation[model.family] ?? 0;
    served += share;
    total += share * tokensPerGpu(fleet, model, gpu);
  });
  return served > 0 ? total / served : 0;
}

/**
 * What a GPU of a kind is worth to the whole mix when power is short: the families it keeps
 * count at their allocation, the ones it cannot keep at nothing — so a site short of power keeps
 * the GPUs that serve every family before ones that serve only some (mixTokensPerGpu, which
 * shares a kind among the families it serves, would rank a kind that drops a family higher).
 */
function keptMixTokensPerGpu(fleet: Fleet, gpu: Gpu): number {
  const keeps = fleet.models.map((model) => keepsSpeed(fleet, model, gpu));
  const anyKept = keeps.some(Boolean);
  let total = 0;
  fleet.models.forEach((model, i) => {
    if (!anyKept || keeps[i])
      total += (fleet.allocation[model.family] ?? 0) * tokensPerGpu(fleet, model, gpu);
  });
  return total;
}

/** Whether a GPU kind serves a family at its per-user speed (a measured figure counts as kept). */
function keepsSpeed(fleet: Fleet, model: FleetModel, gpu: Gpu): boolean {
  if (model.measured_tokens_per_s_per_gpu[gpu.id] !== undefined) return true;
  return throughputOf(fleet, model, gpu).meetsTarget;
}

/**
 * Where each family is served: an operator does not put a family on GPUs that cannot keep its
 * per-user speed while other GPUs can (a family no online kind keeps is served everywhere, at
 * the best speed each kind reaches, and the verdicts say the speed is missed). On each kind,
 * the families it serves split it in the allocation's proportions, so no GPU idles: the weight
 * of family f on kind k is 1 / (allocation of the families k serves), or 0 where k does not
 * serve f. With every kind serving every family all weights are 1.
 */
export function placementWeights(fleet: Fleet, catalog: Map<string, Gpu>, pools: PoolOnline[]): number[][] {
  const kinds = [...new Set(pools.filter((pool) => pool.online > 0).map((pool) => pool.gpu))];
  const kept = fleet.models.map((model) =>
    kinds.map((kind) => keepsSpeed(fleet, model, catalog.get(kind) as Gpu)),
  );
  const serves = kept.map((row) => (row.some(Boolean) ? row : row.map(() => true)));
  const byKind = new Map<string, number>();
  kinds.forEach((kind, k) => {
    let allocated = 0;
    fleet.models.forEach((model, f) => {
      if (serves[f]?.[k]) allocated += fleet.allocation[model.family] ?? 0;
    });
    byKind.set(kind, allocated);
  });
  return fleet.models.map((_, f) =>
    pools.map((pool) => {
      const k = kinds.indexOf(pool.gpu);
      const allocated = byKind.get(pool.gpu) ?? 0;
      return k >= 0 && serves[f]?.[k] && allocated > 0 ? 1 / allocated : 0;
    }),
  );
}

/**
 * GPUs online per pool at an instant. A site short of power powers its most efficient GPUs
 * first (tokens/s per watt for the fleet's mix), as an operator would, so adding GPUs or power
 * never lowers what the fleet delivers.
 */
export function poolsOnline(fleet: Fleet, catalog: Map<string, Gpu>, nowMs: number): PoolOnline[] {
  const result: PoolOnline[] = [];
  for (const site of fleet.sites) {
    let budgetW = siteBudgetW(site, nowMs);
    const active = site.pools
      .filter((pool) => poolActive(pool, nowMs))
      .map((pool) => {
        const gpu = catalog.get(pool.gpu) as Gpu;
        const watts = wattsPerGpu(site, gpu);
        return { pool, watts, efficiency: keptMixTokensPerGpu(fleet, gpu) / watts };
      })
      .sort((a, b) => b.efficiency - a.efficiency);
    for (const { pool, watts } of active) {
      const installed = installedAt(pool, nowMs);
      const up = Math.floor(installed * (1 - (fleet.down_share ?? 0)));
      const online = Math.max(0, Math.min(up, Math.floor(budgetW / watts)));
      budgetW -= online * watts;
      result.push({ site: site.id, gpu: pool.gpu, installed, online, deal: pool.deal });
    }
  }
  return result;
}

function siteBudgetW(site: Site, nowMs: number): number {
  if (site.kind === "terrestrial") return site.power_mw * 1e6;
  // Where the satellite is in its orbit at this instant, and what that powers.
  const phase =
    (((nowMs / 1000) % orbitalPeriodS(site.altitude_km)) / orbitalPeriodS(site.altitude_km)) * 2 * Math.PI;
  return gpusOnlineAt(orbitalSystem(site, nowMs), phase) * site.watts_per_gpu;
}

const YEAR_MS = 365.25 * 86_400_000;

/** The orbit's β at `nowMs`: from the Sun's place for a sun-synchronous orbit, else as stated. */
export function orbitBetaRad(site: Extract<Site, { kind: "orbital" }>, nowMs: number): number {
  if (site.orbit === "inclined") return degrees(site.beta_deg);
  const ltan = site.ltan_hours ?? (site.orbit === "dawn-dusk" ? 18 : 10.5);
  return sunSynchronousBetaRad(nowMs, site.altitude_km, ltan);
}

/** An orbital site as a power system: its orbit, array, battery, radiator and the GPUs installed by `nowMs`. */
export function orbitalSystem(site: Extract<Site, { kind: "orbital" }>, nowMs: number): OrbitalPowerSystem {
  const installed = site.pools.reduce((sum, pool) => sum + installedAt(pool, nowMs), 0);
  const launchedMs = Math.min(...site.pools.map((pool) => (pool.from ? Date.parse(pool.from) : nowMs)));
  return {
    altitudeKm: site.altitude_km,
    betaRad: orbitBetaRad(site, nowMs),
    array: {
      areaM2: site.array_m2,
      efficiency: site.cell_efficiency,
      degradationPerYear: site.array_degradation_per_year,
      ageYears: Math.max(0, (nowMs - launchedMs) / YEAR_MS),
    },
    battery: {
      capacityWh: site.battery_wh,
      depthOfDischarge: site.battery_depth_of_discharge,
      chargeEfficiency: site.battery_charge_efficiency,
      dischargeEfficiency: site.battery_discharge_efficiency,
    },
    radiator: site.radiator_m2
      ? {
          areaM2: site.radiator_m2,
          temperatureK: site.radiator_temp_k,
          emissivity: site.radiator_emissivity,
          absorptance: site.radiator_absorptance,
          ...(site.radiator_earth_view ? { earthViewFactors: site.radiator_earth_view } : {}),
        }
      : undefined,
    wattsPerGpu: site.watts_per_gpu,
    installedGpus: installed,
  };
}

/** The architecture a fleet model is served as: named, declared, or generic from its totals. */
export function architectureOf(
  model: FleetModel,
  models: Map<string, Architecture> = modelCatalog(),
): Architecture {
  if (typeof model.architecture === "string") {
    const named = models.get(model.architecture);
    if (!named) throw new ConfigError(`no model "${model.architecture}" in data/models.yaml`);
    return named;
  }
  if (model.architecture) return model.architecture;
  return genericArchitecture({
    id: model.family,
    totalParamsB: model.total_params_b as number,
    activeParamsB: model.active_params_b as number,
    kvBytesPerToken: model.kv_bytes_per_token as number,
    kvBytesPerValue: model.precision === "bf16" ? 2 : 1,
  });
}

let shippedModels: Map<string, Architecture> | undefined;
/** data/models.yaml, read once: it is shipped data, never written. */
function modelCatalog(): Map<string, Architecture> {
  shippedModels ??= loadModelCatalog();
  return shippedModels;
}

export function profileOf(model: FleetModel): ModelProfile {
  return {
    id: model.family,
    shape: shapeOf(architectureOf(model)),
    precision: model.precision,
    gpusPerReplica: model.gpus_per_replica,
  };
}

export interface CapacityAt {
  atMs: number;
  gpusOnline: number;
  /** Output tokens/s per model family. */
  tokensPerSecond: Record<string, number>;
}

/** The fleet's workload for a model, with the model's interactivity target. */
export function workloadOf(fleet: Fleet, model: FleetModel): Workload {
  return {
    inputTokens: fleet.workload.input_tokens,
    outputTokens: fleet.workload.output_tokens,
    cacheHitShare: fleet.workload.cache_hit_share,
    targetTokensPerSecondPerUser: model.interactivity_tokens_per_s,
  };
}

/**
 * Step-model results per fleet, GPU and model family. Fleets and calibrated GPUs are values
 * no one mutates after parsing, and a planner asks for the same pair thousands of times;
 * weak keys let each fleet's results go with it.
 */
const throughputs = new WeakMap<Fleet, WeakMap<Gpu, Map<string, ReturnType<typeof roofline>>>>();

/** The step model's throughput for a fleet model on a GPU kind (cached per fleet and GPU). */
export function throughputOf(fleet: Fleet, model: FleetModel, gpu: Gpu): ReturnType<typeof roofline> {
  let byGpu = throughputs.get(fleet);
  if (!byGpu) {
    byGpu = new WeakMap();
    throughputs.set(fleet, byGpu);
  }
  let byFamily = byGpu.get(gpu);
  if (!byFamily) {
    byFamily = new Map();
    byGpu.set(gpu, byFamily);
  }
  let result = byFamily.get(model.family);
  if (!result) {
    result = roofline(gpu, profileOf(model), workloadOf(fleet, model));
    byFamily.set(model.family, result);
  }
  return result;
}

/** Output tokens/s per GPU of a kind for a model: measured if known, else the step model. */
export function tokensPerGpu(fleet: Fleet, model: FleetModel, gpu: Gpu): number {
  const measured = model.measured_tokens_per_s_per_gpu[gpu.id];
  if (measured !== undefined) return measured;
  return throughputOf(fleet, model, gpu).outputTokensPerSecondPerGpu;
}

export function capacityAt(fleet: Fleet, catalog: Map<string, Gpu>, nowMs: number): CapacityAt {
  const pools = poolsOnline(fleet, catalog, nowMs);
  const weights = placementWeights(fleet, catalog, pools);
  const tokensPerSecond: Record<string, number> = {};
  fleet.models.forEach((model, f) => {
    const share = fleet.allocation[model.family] ?? 0;
    let total = 0;
    pools.forEach((pool, p) => {
      const weight = weights[f]?.[p] ?? 0;
      if (weight > 0)
        total += pool.online * share * weight * tokensPerGpu(fleet, model, catalog.get(pool.gpu) as Gpu);
    });
    tokensPerSecond[model.family] = total;
  });
  return { atMs: nowMs, gpusOnline: pools.reduce((sum, pool) => sum + pool.online, 0), tokensPerSecond };
}

/**
 * Output tokens/s per family if every online GPU served that family (share 1): what a share of
 * the fleet is worth to each family, for re-balancing the split.
 */
export function fullFleetTokensPerSecond(fleet: Fleet, catalog: Map<string, Gpu>, nowMs: number): number[] {
  const pools = poolsOnline(fleet, catalog, nowMs);
  const weights = placementWeights(fleet, catalog, pools);
  return fleet.models.map((model, f) => {
    let total = 0;
    pools.forEach((pool, p) => {
      total +=
        pool.online * (weights[f]?.[p] ?? 0) * tokensPerGpu(fleet, model, catalog.get(pool.gpu) as Gpu);
    });
    return total;
  });
}

/**
 * The online fleet counted in GPUs of one reference kind: each GPU weighs what it serves of the
 * fleet's model mix (allocation-weighted tokens/s) against the reference kind. How a margin is
 * said in hardware ("needs 4,000 more GB200-equivalents").
 */
export function gpuEquivalents(
  fleet: Fleet,
  catalog: Map<string, Gpu>,
  nowMs: number,
  referenceId: string,
): number {
  const reference = catalog.get(referenceId);
  if (!reference) throw new ConfigError(`no GPU "${referenceId}" in the catalog`);
  const per = mixTokensPerGpu(fleet, reference);
  if (per <= 0) return 0;
  let total = 0;
  for (const pool of poolsOnline(fleet, catalog, nowMs))
    total += (pool.online * mixTokensPerGpu(fleet, catalog.get(pool.gpu) as Gpu)) / per;
  return total;
}

/** What a family's share of the fleet serves with, for the planner's queue (planner/queueing.ts). */
export interface FamilyServing {
  /** Output tokens/s if every online GPU served the family. */
  tokensPerS: number;
  /** Concurrent sequences those GPUs hold at their per-user speed (serving slots). */
  slots: number;
  /** Slots of one replica, averaged over the GPU kinds by their slots. */
  replicaSlots: number;
  /** Time to prefill one uncached prompt on an idle replica, averaged by tokens served. */
  prefillS: number;
  /** The slowest per-user speed any online GPU kind serves the family at. */
  slowestTokensPerSPerUser: number;
}

/** Per family, what the whole online fleet serves it with (share 1), for queues and speeds. */
export function fullFleetServing(fleet: Fleet, catalog: Map<string, Gpu>, nowMs: number): FamilyServing[] {
  const pools = poolsOnline(fleet, catalog, nowMs);
  const weights = placementWeights(fleet, catalog, pools);
  return fleet.models.map((model, f) => {
    let tokensPerS = 0;
    let slots = 0;
    let replicaSlotsWeighted = 0;
    let prefillWeighted = 0;
    let slowest = Number.POSITIVE_INFINITY;
    for (const [p, pool] of pools.entries()) {
      const gpus = pool.online * (weights[f]?.[p] ?? 0);
      if (gpus <= 0) continue;
      const gpu = catalog.get(pool.gpu) as Gpu;
      const predicted = throughputOf(fleet, model, gpu);
      const speed = predicted.decodeTokensPerSecondPerStream;
      if (speed <= 0) continue;
      const tokens = gpus * tokensPerGpu(fleet, model, gpu);
      tokensPerS += tokens;
      slots += tokens / speed;
      // A balancer sends each kind traffic in proportion to its slots, so the replica a
      // request meets is sized by slots, not counted by replicas: thousands of small replicas
      // on a slow kind carry only their slots' share.
      const kindSlots = tokens / speed;
      replicaSlotsWeighted += kindSlots * (kindSlots / (gpus / predicted.layout.gpus));
      prefillWeighted += tokens * predicted.prefillSeconds;
      slowest = Math.min(slowest, speed);
    }
    return {
      tokensPerS,
      slots,
      replicaSlots: slots > 0 ? replicaSlotsWeighted / slots : 0,
      prefillS: tokensPerS > 0 ? prefillWeighted / tokensPerS : 0,
      slowestTokensPerSPerUser: slowest === Number.POSITIVE_INFINITY ? 0 : slowest,
    };
  });
}

/** The instants at which pools join, finish ramping or leave the fleet, in order. */
export function changeDates(fleet: Fleet): number[] {
  const dates = new Set<number>();
  for (const site of fleet.sites) {
    for (const pool of site.pools) {
      if (pool.from) dates.add(Date.parse(pool.from));
      if (pool.from && (pool.ramp_days ?? 0) > 0)
        dates.add(Date.parse(pool.from) + (pool.ramp_days ?? 0) * DAY_MS);
      if (pool.until) dates.add(Date.parse(pool.until));
    }
  }
  return [...dates].sort((a, b) => a - b);
}
