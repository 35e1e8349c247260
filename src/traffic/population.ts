/**
 * A population of users with known parameters, as a schedule of requests: each user has a plan,
 * an intensity (a log-normal quantile, so the spread is exactly the σ asked), a model mix, and
 * comes on some days in the hours of an activity profile. `headroom traffic` drives a gateway
 * with it; the demand export must then recover the parameters (the round-trip test).
 */
import { normalQuantile } from "../planner/cohorts.ts";
import { seededRandom } from "../upstreams/simulated-text.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface PopulationSpec {
  /** Users per plan. */
  plans: Record<string, number>;
  /** σ of the log-normal intensity between users. */
  sigma: number;
  /** Output tokens a request of the median user asks for. */
  outputTokens: number;
  /** Requests a user sends in each active hour. */
  requestsPerHour: number;
  /** Share of each model (by request) per plan; missing plans use `default`. */
  mix: Record<string, Record<string, number>>;
  /** Chance a user is active in each UTC hour of a weekday (24 values). */
  hourly: number[];
  /** Days simulated from `startMs` (a Monday 00:00 UTC gives weekdays first). */
  days: number;
  startMs: number;
  seed: number;
}

export interface ScheduledRequest {
  atMs: number;
  user: string;
  plan: string;
  model: string;
  outputTokens: number;
}

function pick(mix: Record<string, number>, u: number): string {
  const entries = Object.entries(mix);
  const total = entries.reduce((sum, [, share]) => sum + share, 0);
  let acc = 0;
  for (const [model, share] of entries) {
    acc += share / total;
    if (u < acc) return model;
  }
  return entries.at(-1)?.[0] ?? "";
}

/** Every request of the population, in time order. */
export function schedule(spec: PopulationSpec): ScheduledRequest[] {
  const next = seededRandom(spec.seed);
  const requests: ScheduledRequest[] = [];
  for (const [plan, users] of Object.entries(spec.plans)) {
    const mix = spec.mix[plan] ?? spec.mix.default ?? {};
    for (let i = 0; i < users; i++) {
      // The user's quantile of the intensity distribution: users spread exactly as σ says.
      const intensity = Math.exp(spec.sigma * normalQuantile((i + 0.5) / users));
      const user = `${plan}-user-${i}`;
      for (let day = 0; day < spec.days; day++) {
        const weekday = new Date(spec.startMs + day * DAY).getUTCDay();
        if (weekday === 0 || weekday === 6) continue;
        for (let hour = 0; hour < 24; hour++) {
          if (next() >= (spec.hourly[hour] ?? 0)) continue;
          for (let r = 0; r < spec.requestsPerHour; r++) {
            requests.push({
              atMs:
                spec.startMs +
                day * DAY +
                hour * HOUR +
                Math.floor(((r + next()) / spec.requestsPerHour) * HOUR),
              user,
              plan,
              model: pick(mix, next()),
              outputTokens: Math.max(1, Math.round(spec.outputTokens * intensity)),
            });
          }
        }
      }
    }
  }
  return requests.sort((a, b) => a.atMs - b.atMs);
}
