/** A fleet file: sites and their GPU pools (with dates), served models, and allocation shares. */
import { z } from "zod";
import { architectureSchema } from "./model-catalog.ts";

const date = z.iso.datetime({ offset: true });

const poolSchema = z
  .object({
    gpu: z.string().min(1),
    count: z.number().int().positive(),
    /** A deal or lease: the pool joins the fleet at `from` and leaves at `until`. */
    from: date.optional(),
    until: date.optional(),
    /** Label of the deal that brings the pool, for reports. */
    deal: z.string().optional(),
    /**
     * Days from `from` until the whole pool serves: racks are installed, burnt in and brought
     * into service over weeks, not on one day. Linear; absent or 0 = all at once.
     */
    ramp_days: z.number().min(0).max(730).optional(),
  })
  .strict();

const terrestrialSiteSchema = z
  .object({
    id: z.string().min(1),
    kind: z.literal("terrestrial"),
    /** Facility power envelope; GPUs beyond what it can feed stay dark. */
    power_mw: z.number().positive(),
    pue: z.number().min(1).max(3),
    /** Host, network and storage watts on top of each GPU's TDP. */
    overhead_watts_per_gpu: z.number().min(0).default(400),
    pools: z.array(poolSchema).min(1),
  })
  .strict();

const orbitalSiteSchema = z
  .object({
    id: z.string().min(1),
    kind: z.literal("orbital"),
    altitude_km: z.number().min(160).max(36_000),
    /**
     * dawn-dusk: sun-synchronous with its node at 18:00 (or ltan_hours), β from the Sun's place
     * each day, with its eclipse season; sun-synchronous: give ltan_hours; inclined: a constant
     * beta_deg (an assumption: a real inclined orbit's β drifts with its node).
     */
    orbit: z.enum(["dawn-dusk", "sun-synchronous", "inclined"]),
    ltan_hours: z.number().min(0).max(24).optional(),
    beta_deg: z.number().min(-90).max(90).default(0),
    array_m2: z.number().positive(),
    cell_efficiency: z.number().gt(0).lt(1),
    /** Output lost per year in orbit, from the site's first pool's date (radiation, cycling). */
    array_degradation_per_year: z.number().min(0).lt(1).default(0.01),
    battery_wh: z.number().min(0),
    /** Usable share per cycle: low orbit cycles ~5,500 times a year, so cells are kept shallow. */
    battery_depth_of_discharge: z.number().gt(0).max(1).default(0.3),
    battery_charge_efficiency: z.number().gt(0).max(1).default(0.95),
    battery_discharge_efficiency: z.number().gt(0).max(1).default(0.95),
    /** Two-sided radiator; without one, heat is assumed not to limit the site. */
    radiator_m2: z.number().positive().optional(),
    radiator_temp_k: z.number().min(200).max(400).default(300),
    radiator_emissivity: z.number().gt(0).max(1).default(0.9),
    radiator_absorptance: z.number().min(0).max(1).default(0.2),
    /** Share of each side's view that is the Earth; default one side nadir ((R/r)²), one space. */
    radiator_earth_view: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).optional(),
    watts_per_gpu: z.number().positive(),
    pools: z.array(poolSchema).min(1),
  })
  .strict();

const modelSchema = z
  .object({
    family: z.string().min(1),
    /**
     * The model's architecture: an id from data/models.yaml, or a shape declared here (layers,
     * attention, experts). Without one, the totals below describe a generic model (the
     * assumption is in docs/capacity.md).
     */
    architecture: z.union([z.string().min(1), architectureSchema]).optional(),
    total_params_b: z.number().positive().optional(),
    active_params_b: z.number().positive().optional(),
    precision: z.enum(["bf16", "fp8", "fp4"]),
    kv_bytes_per_token: z.number().positive().optional(),
    /** Fixed GPUs per replica; absent, the layout that serves most at the model's speed is chosen. */
    gpus_per_replica: z.number().int().positive().optional(),
    /**
     * Per-user decode speed the model is served at (tokens/s per stream). Batches are kept small
     * enough to hold it, which costs throughput per GPU; omitted, the model runs at maximum
     * throughput whatever the per-user speed.
     */
    interactivity_tokens_per_s: z.number().positive().optional(),
    /** Measured output tokens/s per GPU by GPU kind; overrides the roofline estimate. */
    measured_tokens_per_s_per_gpu: z.record(z.string(), z.number().positive()).default({}),
  })
  .strict()
  .refine(
    (model) =>
      model.architecture !== undefined ||
      (model.total_params_b !== undefined &&
        model.active_params_b !== undefined &&
        model.kv_bytes_per_token !== undefined),
    "give architecture, or total_params_b, active_params_b and kv_bytes_per_token",
  );

export const fleetSchema = z
  .object({
    sites: z.array(z.discriminatedUnion("kind", [terrestrialSiteSchema, orbitalSiteSchema])).min(1),
    models: z.array(modelSchema).min(1),
    /** Share of every pool's GPUs serving each model family; shares sum to at most 1. */
    allocation: z.record(z.string(), z.number().min(0).max(1)),
    /**
     * Bounds [min, max] on each family's share when the planner re-balances the split (a family
     * keeps some replicas warm; another cannot take the whole fleet). Default [0, 1].
     */
    allocation_bounds: z
      .record(z.string(), z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]))
      .default({}),
    /**
     * Share of installed GPUs out of service at any time (failed, drained for maintenance,
     * burning in); absent = none. They draw no power and serve nothing.
     */
    down_share: z.number().min(0).lt(1).optional(),
    workload: z
      .object({
        input_tokens: z.number().positive(),
        output_tokens: z.number().positive(),
        /** Share of prompt tokens served from the prompt cache: they skip prefill compute. */
        cache_hit_share: z.number().min(0).max(1).default(0),
      })
      .strict(),
  })
  .strict()
  .superRefine((fleet, context) => {
    const total = Object.values(fleet.allocation).reduce((sum, share) => sum + share, 0);
    if (total > 1 + 1e-9)
      context.addIssue({
        code: "custom",
        path: ["allocation"],
        message: `shares sum to ${total}, more than 1`,
      });
    const families = new Set(fleet.models.map((model) => model.family));
    let mins = 0;
    let maxes = 0;
    for (const model of fleet.models) {
      const [min, max] = fleet.allocation_bounds[model.family] ?? [0, 1];
      if (min > max)
        context.addIssue({
          code: "custom",
          path: ["allocation_bounds", model.family],
          message: `min ${min} above max ${max}`,
        });
      mins += min;
      maxes += max;
    }
    if (mins > total + 1e-9 || maxes < total - 1e-9)
      context.addIssue({
        code: "custom",
        path: ["allocation_bounds"],
        message: `bounds must allow the allocated total ${total}: minimums sum to ${mins}, maximums to ${maxes}`,
      });
    for (const family of Object.keys(fleet.allocation_bounds)) {
      if (!families.has(family))
        context.addIssue({
          code: "custom",
          path: ["allocation_bounds", family],
          message: "no model of this family",
        });
    }
    for (const family of Object.keys(fleet.allocation)) {
      if (!families.has(family))
        context.addIssue({
          code: "custom",
          path: ["allocation", family],
          message: "no model of this family",
        });
    }
  });

export type Fleet = z.infer<typeof fleetSchema>;
export type Site = Fleet["sites"][number];
export type Pool = Site["pools"][number];
export type FleetModel = Fleet["models"][number];
