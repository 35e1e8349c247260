/** The admin API's the fleet behind the capacity, now and over its dates (one file per resource; admin-api.ts composes them). */
import { z } from "zod";
import { loadCalibratedCatalog } from "../../capacity/calibration.ts";
import { gpusOnlineAt, orbitalPeriodS } from "../../capacity/orbit.ts";
import {
  capacityAt,
  changeDates,
  orbitalSystem,
  poolsOnline,
  readFleetFile,
} from "../../capacity/timeline.ts";
import { notFound } from "../../common/errors.ts";
import type { AdminServices } from "./admin-shared.ts";
import { type AdminRoute, route } from "./routes.ts";

export function fleetRoutes(services: AdminServices): AdminRoute[] {
  return [
    route({
      method: "GET",
      path: "/fleet",
      summary:
        "The fleet behind the capacity: pools online now, capacity at every change, an orbital site's GPUs over one orbit",
      tag: "fleet",
      response: z.object({
        file: z.string(),
        at: z.string(),
        pools: z.array(
          z.object({
            site: z.string(),
            gpu: z.string(),
            installed: z.number(),
            online: z.number(),
            deal: z.string().nullable(),
          }),
        ),
        timeline: z.array(z.object({ at: z.string(), tokens_per_second: z.record(z.string(), z.number()) })),
        orbits: z.array(
          z.object({
            site: z.string(),
            period_s: z.number(),
            samples: z.array(z.object({ minute: z.number(), gpus_online: z.number() })),
          }),
        ),
      }),
      handler: async () => {
        const file = services.config.capacity?.fleet;
        if (!file) throw notFound("No fleet is configured: set capacity.fleet in the gateway's config file.");
        const catalog = loadCalibratedCatalog();
        const fleet = readFleetFile(file, catalog);
        const nowMs = services.clock();
        const dates = changeDates(fleet);
        const instants = [dates.length > 0 ? (dates[0] as number) - 86_400_000 : nowMs, ...dates];
        return {
          file,
          at: new Date(nowMs).toISOString(),
          pools: poolsOnline(fleet, catalog, nowMs).map((pool) => ({ ...pool, deal: pool.deal ?? null })),
          timeline: instants.map((at) => ({
            at: new Date(at).toISOString(),
            tokens_per_second: capacityAt(fleet, catalog, at).tokensPerSecond,
          })),
          orbits: fleet.sites.flatMap((site) => {
            if (site.kind !== "orbital") return [];
            // The site as built out (its last pool in orbit), or as it is now if that is later.
            const builtAt = Math.max(nowMs, dates.at(-1) ?? nowMs);
            const system = orbitalSystem(site, builtAt);
            const period = orbitalPeriodS(site.altitude_km);
            const samples = Array.from({ length: 121 }, (_, i) => ({
              minute: Math.round(((i / 120) * period) / 6) / 10,
              gpus_online: gpusOnlineAt(system, (i / 120) * 2 * Math.PI),
            }));
            return [{ site: site.id, at: new Date(builtAt).toISOString(), period_s: period, samples }];
          }),
        };
      },
    }),
  ];
}
