/**
 * Demand in flight against capacity, per model family: the decode rate of every request in
 * flight, summed by family, and the capacity of the upstreams serving each family at that
 * family's decode speed (known for simulated pools and upstreams with capacity_concurrency).
 * /metrics and the admin overview read the same numbers.
 */
import type { EdgeServices } from "./services.ts";

export interface FamilyLoad {
  family: string;
  demandTokensPerSecond: number;
  /** Undefined when no upstream of the family has a known capacity. */
  capacityTokensPerSecond: number | undefined;
}

export function familyLoad(
  gateway: Pick<EdgeServices, "inFlight" | "config" | "admission" | "fleet" | "clock">,
): FamilyLoad[] {
  const nowMs = gateway.clock();
  // With a fleet, a stream decodes at the fleet's speed and a family's capacity is its share of
  // the fleet's tokens/s; without one (or for a family the fleet does not serve), the model's
  // simulation speed and the pool's slots.
  const fleetRate = (family: string) => gateway.fleet?.streamRateAt(nowMs, family) ?? 0;
  const demand = new Map<string, number>();
  for (const request of gateway.inFlight) {
    const drawn = request.demand;
    if (!drawn) continue;
    const rate = fleetRate(drawn.family) || drawn.tokensPerSecond;
    demand.set(drawn.family, (demand.get(drawn.family) ?? 0) + rate);
  }
  const fromFleet = new Map<string, number>();
  for (const model of gateway.config.models) {
    const tokens = gateway.fleet?.tokensPerSecondAt(nowMs, model.family) ?? 0;
    if (tokens > 0) fromFleet.set(model.family, tokens);
  }
  const capacity = new Map<string, number>();
  const counted = new Set<string>();
  for (const model of gateway.config.models) {
    demand.set(model.family, demand.get(model.family) ?? 0);
    const controller = gateway.admission.get(model.upstream);
    // One upstream's capacity counts once per family, at that family's decode speed.
    const key = `${model.family}|${model.upstream}`;
    if (!controller || counted.has(key) || fromFleet.has(model.family)) continue;
    counted.add(key);
    const perStream = model.simulation?.decode_tokens_per_s ?? 0;
    capacity.set(
      model.family,
      (capacity.get(model.family) ?? 0) + controller.stats(perStream).capacityTokensPerSecond,
    );
  }
  return [...demand].map(([family, tokensPerSecond]) => ({
    family,
    demandTokensPerSecond: tokensPerSecond,
    capacityTokensPerSecond: fromFleet.get(family) ?? capacity.get(family),
  }));
}
