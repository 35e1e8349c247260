/**
 * Where a policy's capacity scaling gets capacity(t) from. With a fleet configured the gateway
 * uses the fleet's capacity timeline (capacity/fleet-capacity.ts), so limits follow GPUs coming
 * online; without one, capacity is constant (`ConstantCapacity`) and scaling has no effect.
 */
export interface CapacityProvider {
  /** Capacity available at `nowMs` for a model family, in the unit of the policy's baseline. */
  capacityAt(nowMs: number, family: string): number;
}

export class ConstantCapacity implements CapacityProvider {
  constructor(private readonly value = 1) {}

  capacityAt(): number {
    return this.value;
  }
}
