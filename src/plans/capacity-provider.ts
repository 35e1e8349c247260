/**
 * Where a policy's capacity scaling gets capacity(t) from. Constant for now; the fleet model
 * (capacity/) provides the real one, so limits follow GPUs coming online.
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
