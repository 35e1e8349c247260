/**
 * Demand measured from the gateway's own ledger, in the scenario's vocabulary (scenario.ts):
 * per subscription plan its active users, the median user's output tokens per active minute,
 * the spread of usage between users (a log-normal fit, with its Kolmogorov–Smirnov distance),
 * the model mix and the share of users refused by a limit; the hour-of-week profile in a time
 * zone; how many days a week users come back; per model family the prompt and reply sizes and
 * the cache-hit share; per API tier its keys, what the median key asks per active second and
 * how often keys were limit-bound. Nothing names an account or a key unless asked.
 */
import { z } from "zod";
import type { UsageEvent } from "../ledger/usage-event.ts";
import { localWeekdayAndHour } from "../plans/peak.ts";
import { effectiveActiveDays, normalCdf } from "./cohorts.ts";

const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;

const fitSchema = z
  .object({
    /** Users (or keys) the fit is made on. */
    n: z.number().int().min(0),
    /** Largest gap between the measured distribution of ln(usage) and the fitted normal. */
    ks_distance: z.number().min(0).max(1),
  })
  .strict();

/** What plans and API tiers both report: the spread between their users, their mix, who was refused. */
const spreadAndLimits = {
  intensity_sigma: z.number().min(0),
  fit: fitSchema,
  model_mix: z.record(z.string(), z.number().min(0)),
  /** Share of the users (or keys) refused (429) by a limit at least once. */
  limited_share: z.number().min(0).max(1),
  /** The same per limit that refused (`5h`, `week`, `week-opus`, `rpm`, …). */
  limited_by: z.record(z.string(), z.number().min(0).max(1)),
};

export const measuredDemandSchema = z
  .object({
    measured: z
      .object({
        since: z.string(),
        until: z.string(),
        days: z.number().positive(),
        requests: z.number().int().min(0),
        /** Present only with --with-names. */
        accounts: z.array(z.string()).optional(),
      })
      .strict(),
    time_zone: z.string(),
    /** Share of users active in each local hour of a weekday. */
    hourly_activity: z.array(z.number().min(0).max(1)).length(24),
    weekend_factor: z.number().min(0),
    /** Distinct local days a user was active per week, averaged, and the concentration it implies. */
    active_days_per_week: z.number().min(0).max(7),
    day_concentration: z.number().min(0),
    plans: z.record(
      z.string(),
      z
        .object({
          users: z.number().int().min(0),
          tokens_per_active_minute: z.number().min(0),
          ...spreadAndLimits,
        })
        .strict(),
    ),
    api_tiers: z.record(
      z.string(),
      z
        .object({
          keys: z.number().int().min(0),
          /** Output tokens/s the median key asks while active. */
          tokens_per_s_per_key: z.number().min(0),
          ...spreadAndLimits,
        })
        .strict(),
    ),
    families: z.record(
      z.string(),
      z
        .object({
          requests: z.number().int().min(0),
          input_tokens: z.number().min(0),
          output_tokens: z.number().min(0),
          cache_hit_share: z.number().min(0).max(1),
        })
        .strict(),
    ),
  })
  .strict();

export type MeasuredDemand = z.infer<typeof measuredDemandSchema>;

export interface ExportInput {
  events: Iterable<UsageEvent> | AsyncIterable<UsageEvent>;
  sinceMs: number;
  untilMs: number;
  timeZone: string;
  /** The plan a key is on (the ledger holds key ids). */
  planOfKey: (keyId: string) => string | undefined;
  kindOfPlan: (plan: string) => "subscription" | "api" | undefined;
  familyOf: (model: string) => string | undefined;
  withNames?: boolean;
}

interface Party {
  plan: string;
  account: string;
  output: number;
  minutes: Set<number>;
  days: Set<string>;
  byFamily: Map<string, number>;
  limited: boolean;
  /** The limits that refused it (rows before the ledger recorded them say nothing). */
  limitedBy: Set<string>;
}

/** σ of ln(usage) and how far the measured distribution is from that log-normal (KS distance). */
export function logNormalFit(usage: readonly number[]): { sigma: number; n: number; ksDistance: number } {
  const logs = usage
    .filter((u) => u > 0)
    .map(Math.log)
    .sort((a, b) => a - b);
  const n = logs.length;
  if (n < 2) return { sigma: 0, n, ksDistance: 0 };
  const mean = logs.reduce((sum, x) => sum + x, 0) / n;
  const sigma = Math.sqrt(logs.reduce((sum, x) => sum + (x - mean) ** 2, 0) / (n - 1));
  let ks = 0;
  logs.forEach((x, i) => {
    const fitted = sigma > 0 ? normalCdf((x - mean) / sigma) : x >= mean ? 1 : 0;
    ks = Math.max(ks, Math.abs(fitted - i / n), Math.abs(fitted - (i + 1) / n));
  });
  return { sigma, n, ksDistance: ks };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length === 0
    ? 0
    : sorted.length % 2
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

const shares = (byFamily: Map<string, number>): Record<string, number> => {
  const total = [...byFamily.values()].reduce((sum, x) => sum + x, 0);
  return Object.fromEntries([...byFamily].map(([family, n]) => [family, total > 0 ? n / total : 0]));
};

/** The day concentration κ whose effective active days are `days` (cohorts.ts), by bisection. */
export function concentrationForActiveDays(days: number): number {
  if (days >= 7) return 0;
  let low = 0;
  let high = 20;
  if (effectiveActiveDays(high) > days) return high;
  for (let i = 0; i < 50; i++) {
    const middle = (low + high) / 2;
    if (effectiveActiveDays(middle) > days) low = middle;
    else high = middle;
  }
  return (low + high) / 2;
}

export async function exportDemand(input: ExportInput): Promise<MeasuredDemand> {
  const parties = new Map<string, Party>();
  const families = new Map<string, { requests: number; input: number; output: number; cached: number }>();
  // Distinct (local date, hour) → users active then, for the hour-of-week profile.
  const activeAt = new Map<string, Set<string>>();
  const dates = new Map<string, number>();
  let requests = 0;
  const dateOf = new Intl.DateTimeFormat("en-CA", { timeZone: input.timeZone });
  for await (const event of input.events) {
    if (event.at_ms < input.sinceMs || event.at_ms >= input.untilMs || !event.key_id) continue;
    const plan = input.planOfKey(event.key_id);
    const kind = plan && input.kindOfPlan(plan);
    if (!plan || !kind) continue;
    requests++;
    // Subscribers are accounts; API users are keys.
    const who = kind === "subscription" ? `s:${event.account ?? event.key_id}` : `k:${event.key_id}`;
    let party = parties.get(who);
    if (!party) {
      party = {
        plan,
        account: event.account ?? "",
        output: 0,
        minutes: new Set(),
        days: new Set(),
        byFamily: new Map(),
        limited: false,
        limitedBy: new Set(),
      };
      parties.set(who, party);
    }
    if (event.status === 429 && event.error_type === "rate_limit_error") {
      party.limited = true;
      if (event.limited_by) party.limitedBy.add(event.limited_by);
    }
    if (event.status !== 200) continue;
    const family = (event.model && input.familyOf(event.model)) ?? "unknown";
    party.output += event.output_tokens;
    party.byFamily.set(family, (party.byFamily.get(family) ?? 0) + event.output_tokens);
    party.minutes.add(Math.floor(event.at_ms / MINUTE));
    const local = localWeekdayAndHour(event.at_ms, input.timeZone);
    const date = dateOf.format(event.at_ms);
    party.days.add(date);
    dates.set(date, local.weekday);
    if (kind === "subscription") {
      const slot = `${date}|${local.hour}`;
      let users = activeAt.get(slot);
      if (!users) {
        users = new Set();
        activeAt.set(slot, users);
      }
      users.add(who);
    }
    const f = families.get(family) ?? { requests: 0, input: 0, output: 0, cached: 0 };
    f.requests++;
    f.input += event.input_tokens + event.cache_read_input_tokens + event.cache_creation_input_tokens;
    f.cached += event.cache_read_input_tokens;
    f.output += event.output_tokens;
    families.set(family, f);
  }
  const days = (input.untilMs - input.sinceMs) / DAY;
  const subscribers = [...parties.entries()].filter(([who]) => who.startsWith("s:"));
  const keys = [...parties.entries()].filter(([who]) => who.startsWith("k:"));
  const activeSubscribers = subscribers.filter(([, p]) => p.output > 0).length;

  // Hour-of-week: per local hour, the mean over weekdays (and over weekend days) of users active.
  const weekdayHours = Array.from({ length: 24 }, () => [] as number[]);
  const weekendHours: number[] = [];
  for (const [date, weekday] of dates) {
    for (let hour = 0; hour < 24; hour++) {
      const share =
        activeSubscribers > 0 ? (activeAt.get(`${date}|${hour}`)?.size ?? 0) / activeSubscribers : 0;
      if (weekday >= 6) weekendHours.push(share);
      else weekdayHours[hour]?.push(share);
    }
  }
  const mean = (values: number[]) =>
    values.length ? values.reduce((sum, x) => sum + x, 0) / values.length : 0;
  const hourly = weekdayHours.map(mean);
  const weekdayMean = mean(hourly);
  const weekendMean = mean(weekendHours);
  const weeks = Math.max(1, days / 7);
  const activeDays = mean(
    subscribers.filter(([, p]) => p.output > 0).map(([, p]) => Math.min(7, p.days.size / weeks)),
  );

  const groupByPlan = (group: Array<[string, Party]>) => {
    const byPlan = new Map<string, Party[]>();
    for (const [, party] of group) byPlan.set(party.plan, [...(byPlan.get(party.plan) ?? []), party]);
    return byPlan;
  };
  const limitedByOf = (members: Party[]) => {
    const counts = new Map<string, number>();
    for (const member of members)
      for (const limit of member.limitedBy) counts.set(limit, (counts.get(limit) ?? 0) + 1);
    return Object.fromEntries([...counts].map(([limit, n]) => [limit, n / members.length]));
  };
  const mixOf = (members: Party[]) => {
    const total = new Map<string, number>();
    for (const member of members)
      for (const [family, n] of member.byFamily) total.set(family, (total.get(family) ?? 0) + n);
    return shares(total);
  };
  /** The fields plans and tiers share, from their members (and those who used the models). */
  const spreadOf = (members: Party[], active: Party[]) => {
    const fit = logNormalFit(active.map((m) => m.output));
    return {
      intensity_sigma: fit.sigma,
      fit: { n: fit.n, ks_distance: fit.ksDistance },
      model_mix: mixOf(active),
      limited_share: members.filter((m) => m.limited).length / members.length,
      limited_by: limitedByOf(members),
    };
  };
  const plans: MeasuredDemand["plans"] = {};
  for (const [plan, members] of groupByPlan(subscribers)) {
    const active = members.filter((m) => m.output > 0);
    plans[plan] = {
      users: members.length,
      tokens_per_active_minute: median(active.map((m) => m.output / m.minutes.size)),
      ...spreadOf(members, active),
    };
  }
  const apiTiers: MeasuredDemand["api_tiers"] = {};
  for (const [tier, members] of groupByPlan(keys)) {
    const active = members.filter((m) => m.output > 0);
    apiTiers[tier] = {
      keys: members.length,
      tokens_per_s_per_key: median(active.map((m) => m.output / (m.minutes.size * 60))),
      ...spreadOf(members, active),
    };
  }
  return measuredDemandSchema.parse({
    measured: {
      since: new Date(input.sinceMs).toISOString(),
      until: new Date(input.untilMs).toISOString(),
      days,
      requests,
      ...(input.withNames ? { accounts: [...new Set(subscribers.map(([, p]) => p.account))].sort() } : {}),
    },
    time_zone: input.timeZone,
    hourly_activity: hourly.map((share) => Math.min(1, share)),
    weekend_factor: weekdayMean > 0 ? weekendMean / weekdayMean : 0,
    active_days_per_week: activeDays,
    day_concentration: concentrationForActiveDays(activeDays),
    plans,
    api_tiers: apiTiers,
    families: Object.fromEntries(
      [...families].map(([family, f]) => [
        family,
        {
          requests: f.requests,
          input_tokens: f.requests ? f.input / f.requests : 0,
          output_tokens: f.requests ? f.output / f.requests : 0,
          cache_hit_share: f.input > 0 ? f.cached / f.input : 0,
        },
      ]),
    ),
  });
}
