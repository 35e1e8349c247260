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

export function familyLoad(gateway: Pick<EdgeServices, "inFlight" | "config" | "admission">): FamilyLoad[] {
  const demand = new Map<string, number>();
  for (const request of gateway.inFlight) {
    const drawn = request.demand;
    if (drawn) demand.set(drawn.family, (demand.get(drawn.family) ?? 0) + drawn.tokensPerSecond);
  }
  const capacity = new Map<string, number>();
  const counted = new Set<string>();
  for (const model of gateway.config.models) {
    demand.set(model.family, demand.get(model.family) ?? 0);
    const controller = gateway.admission.get(model.upstream);
    // One upstream's capacity counts once per family, at that family's decode speed.
    const key = `${model.family}|${model.upstream}`;
    if (!controller || counted.has(key)) continue;
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
    capacityTokensPerSecond: capacity.get(family),
  }));
}
