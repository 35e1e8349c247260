/**
 * The solver: the largest multiplier that keeps every service level of the scenario, by
 * bisection on a log scale (multipliers are ratios; sustainability falls as the multiplier
 * rises, so the feasible set is an interval). The answer says when it is only the search's
 * ceiling ("at least this much") or when even the floor fails.
 */
import {
  meetsServiceLevels,
  type Prepared,
  type SimulationOptions,
  type SimulationResult,
  simulate,
} from "./simulate.ts";

export interface Sustainable {
  /** The largest sustainable multiplier found (0 when even the floor of the range fails). */
  multiplier: number;
  /** True when the top of the range is sustainable: the true answer is at least `multiplier`. */
  atSearchLimit: boolean;
  result: SimulationResult;
}

/**
 * Multipliers are searched from the policy as it is (×1) up: the question is how far limits can
 * rise. Below ×1 the fluid cohort model is not trusted: when budgets are cut far below what
 * users want, whole cohorts hit their limits together and restart their windows together, and
 * the bursts that follow make sustainability non-monotone in the multiplier.
 */
export const SEARCH_RANGE: [number, number] = [1, 16];

export function largestSustainable(
  prepared: Prepared,
  optionsFor: (multiplier: number) => SimulationOptions,
  onRun: () => void = () => {},
  range: [number, number] = SEARCH_RANGE,
  iterations = 12,
): Sustainable {
  const run = (value: number) => {
    const result = simulate(prepared, optionsFor(value));
    onRun();
    return result;
  };
  let [low, high] = range;
  let best = run(low);
  if (!meetsServiceLevels(best)) return { multiplier: 0, atSearchLimit: false, result: best };
  const top = run(high);
  if (meetsServiceLevels(top)) return { multiplier: high, atSearchLimit: true, result: top };
  for (let i = 0; i < iterations; i++) {
    const middle = Math.sqrt(low * high);
    const result = run(middle);
    if (meetsServiceLevels(result)) {
      low = middle;
      best = result;
    } else high = middle;
  }
  return { multiplier: low, atSearchLimit: false, result: best };
}

/** Demand multiples searched for break-even (relative to the demand used). */
const BREAK_EVEN_RANGE: [number, number] = [1 / 16, 16];
/**
 * 16 halvings of the 8-octave range: steps of 0.01%, fine enough that margins printed to three
 * decimals near ×1 (where verdicts turn) are not the search's grid.
 */
const BREAK_EVEN_ITERATIONS = 16;

/** The largest demand multiple at which `optionsFor(multiple)` stays under the target. */
export function breakEvenDemand(
  prepared: Prepared,
  optionsFor: (demandMultiple: number) => SimulationOptions,
  onRun: () => void = () => {},
  iterations = BREAK_EVEN_ITERATIONS,
): Sustainable {
  return largestSustainable(prepared, optionsFor, onRun, BREAK_EVEN_RANGE, iterations);
}
