/**
 * The solver: the largest multiplier that keeps overload under the scenario's target, by
 * bisection (sustainability falls as the multiplier rises, so the feasible set is an interval).
 */
import { type Prepared, type SimulationOptions, type SimulationResult, simulate } from "./simulate.ts";

export function largestSustainable(
  prepared: Prepared,
  optionsFor: (multiplier: number) => SimulationOptions,
  onRun: () => void = () => {},
  range: [number, number] = [0.25, 16],
  iterations = 12,
): { multiplier: number; result: SimulationResult } {
  const target = prepared.scenario.target_overload_share;
  const run = (value: number) => {
    const result = simulate(prepared, optionsFor(value));
    onRun();
    return result;
  };
  let [low, high] = range;
  let best = run(low);
  if (best.overloadShare > target) return { multiplier: 0, result: best };
  const top = run(high);
  if (top.overloadShare <= target) return { multiplier: high, result: top };
  for (let i = 0; i < iterations; i++) {
    const middle = (low + high) / 2;
    const result = run(middle);
    if (result.overloadShare <= target) {
      low = middle;
      best = result;
    } else high = middle;
  }
  return { multiplier: low, result: best };
}
