/**
 * Usage units: price-weighted tokens, so one subscription budget spans models. One unit is
 * $0.00000001; with prices of at most two decimals in $/MTok every token is a whole number of
 * units (price × 100), and budgets stay exact integers in the limiter.
 */
import type { Usage } from "../protocol/anthropic.ts";
import type { ModelClass } from "./schema.ts";

export const UNITS_PER_USD = 100_000_000;

export const usdToUnits = (usd: number): number => Math.round(usd * UNITS_PER_USD);

/** Units per token for each kind of token of a model class. */
export interface UnitPrices {
  input: number;
  output: number;
  cacheWrite: number;
  cacheWrite1h: number;
  cacheRead: number;
}

export function unitPrices(modelClass: ModelClass): UnitPrices {
  return {
    input: Math.round(modelClass.input * 100),
    output: Math.round(modelClass.output * 100),
    cacheWrite: Math.round(modelClass.cache_write * 100),
    cacheWrite1h: Math.round((modelClass.cache_write_1h ?? modelClass.input * 2) * 100),
    cacheRead: Math.round(modelClass.cache_read * 100),
  };
}

export function usageUnits(prices: UnitPrices, usage: Usage): number {
  const oneHour = Math.min(usage.cache_creation_1h_input_tokens ?? 0, usage.cache_creation_input_tokens);
  return (
    usage.input_tokens * prices.input +
    usage.output_tokens * prices.output +
    (usage.cache_creation_input_tokens - oneHour) * prices.cacheWrite +
    oneHour * prices.cacheWrite1h +
    usage.cache_read_input_tokens * prices.cacheRead
  );
}
