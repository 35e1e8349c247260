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
  /** Rates for a request whose prompt is over `aboveInputTokens`, when the class has them. */
  longContext?: { aboveInputTokens: number; prices: UnitPrices };
}

type TokenPrices = Pick<ModelClass, "input" | "output" | "cache_write" | "cache_write_1h" | "cache_read">;

function ratesOf(prices: TokenPrices): UnitPrices {
  return {
    input: Math.round(prices.input * 100),
    output: Math.round(prices.output * 100),
    cacheWrite: Math.round(prices.cache_write * 100),
    cacheWrite1h: Math.round((prices.cache_write_1h ?? prices.input * 2) * 100),
    cacheRead: Math.round(prices.cache_read * 100),
  };
}

export function unitPrices(modelClass: ModelClass): UnitPrices {
  const rates = ratesOf(modelClass);
  const long = modelClass.long_context;
  if (long) rates.longContext = { aboveInputTokens: long.above_input_tokens, prices: ratesOf(long) };
  return rates;
}

/** The prompt's size as long-context pricing counts it: every input token, cached or not. */
export const promptTokens = (usage: Usage): number =>
  usage.input_tokens + usage.cache_creation_input_tokens + usage.cache_read_input_tokens;

export function usageUnits(prices: UnitPrices, usage: Usage): number {
  const long = prices.longContext;
  const rates = long && promptTokens(usage) > long.aboveInputTokens ? long.prices : prices;
  const oneHour = Math.min(usage.cache_creation_1h_input_tokens ?? 0, usage.cache_creation_input_tokens);
  return (
    usage.input_tokens * rates.input +
    usage.output_tokens * rates.output +
    (usage.cache_creation_input_tokens - oneHour) * rates.cacheWrite +
    oneHour * rates.cacheWrite1h +
    usage.cache_read_input_tokens * rates.cacheRead
  );
}
