/**
 * Which dimensions refused a request and for how long, read from the decision alone: its own
 * instant (Decision.atMs, the store's clock) and each dimension's earliest admit time. A
 * refusal's message, headers and retry-after all come from this one reading, so none of them
 * can name a dimension that had room (a caller's clock a little apart from a shared store's
 * would make an admitting dimension look refused).
 */
import { advisedAdmitAtMs } from "./concurrency.ts";
import type { Decision, DimensionResult, DimensionSpec } from "./dimension.ts";

export interface Shortfall {
  /** The dimension's position in the request's list. */
  index: number;
  dimension: DimensionResult;
  /** Until it admits, as advised to the client (a full slot advises a short poll); Infinity: never. */
  waitMs: number;
}

/** The dimensions that lacked room, in the request's order. */
export function shortfalls(decision: Decision, specs: readonly DimensionSpec[]): Shortfall[] {
  const refused: Shortfall[] = [];
  decision.dimensions.forEach((dimension, index) => {
    if (dimension.admitAtMs <= decision.atMs) return;
    const advised = advisedAdmitAtMs(specs[index], dimension.admitAtMs, decision.atMs);
    refused.push({ index, dimension, waitMs: advised - decision.atMs });
  });
  return refused;
}

/**
 * The dimension a refusal names: the one that admits last as advised, so its wait is the
 * retry-after (the first of equals, in the request's order). Undefined for an admitted decision.
 */
export function bindingShortfall(decision: Decision, specs: readonly DimensionSpec[]): Shortfall | undefined {
  let binding: Shortfall | undefined;
  for (const shortfall of shortfalls(decision, specs))
    if (!binding || shortfall.waitMs > binding.waitMs) binding = shortfall;
  return binding;
}
