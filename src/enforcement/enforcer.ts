/**
 * Enforcement: a request's plan (from the policy in force at the clock's time) becomes one
 * limiter decision over every dimension. Admitted requests carry the decision's headers and
 * are reconciled with their actual usage when they end; rejected ones become a 429 that names
 * the limit, says when it resets, and carries retry-after.
 */
import { HeadroomError } from "../errors.ts";
import type { Decision, DimensionResult } from "../limits/dimension.ts";
import type { CheckRequest, LimiterStore } from "../limits/limiter-store.ts";
import type { CapacityProvider } from "../plans/capacity-provider.ts";
import { LEVEL_PREFIX, type Level, withLevels } from "../plans/level-limits.ts";
import { creditLimits, type PlanLimits, planLimits } from "../plans/plan-limits.ts";
import type { PolicyBook } from "../plans/policy-book.ts";
import type { Policy } from "../plans/schema.ts";
import { UNITS_PER_USD } from "../plans/usage-units.ts";
import { emptyUsage, type Usage } from "../protocol/anthropic.ts";
import {
  anthropicRateLimitHeaders,
  openAIRateLimitHeaders,
  rfc3339,
} from "../protocol/rate-limit-headers.ts";
import type { KeyIdentity } from "../stores/store.ts";

/** Output tokens assumed for an account with no history yet. */
const DEFAULT_OUTPUT_ESTIMATE = 256;
/** Weight of the newest response in the running average of output tokens. */
const AVERAGE_WEIGHT = 0.2;

export interface Admission {
  limits: PlanLimits;
  key: string;
  /** What the key shares with its team and organisation in the store (limiter-store.ts). */
  slot: string | undefined;
  estimate: Usage;
  decision: Decision;
  leaseId: string;
  nowMs: number;
  /** Served on usage credits past the subscription's limits. */
  onCredits: boolean;
}

const DIMENSION_WORDS: Record<string, string> = {
  rpm: "requests per minute",
  itpm: "input tokens per minute",
  otpm: "output tokens per minute",
  concurrency: "requests in flight",
};
// Level dimensions reuse the words: team-rpm, org-concurrency, …

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The 429 message: which limit, and when it resets. */
const LEVEL_WORDS: Record<Level, { noun: string; spend: string }> = {
  organisation: { noun: "organisation", spend: "Organisation spend limit" },
  team: { noun: "team", spend: "Team budget" },
  key: { noun: "key", spend: "Key budget" },
};

/** The level a dimension belongs to, from its name's prefix (level-limits.ts), if any. */
function levelOf(name: string): { level: Level; rest: string } | undefined {
  for (const level of Object.keys(LEVEL_PREFIX) as Level[]) {
    const prefix = `${LEVEL_PREFIX[level]}-`;
    if (name.startsWith(prefix)) return { level, rest: name.slice(prefix.length) };
  }
  return undefined;
}

/** A refusal by an organisation's, a team's or a key's own limit, in one sentence. */
function levelMessage(
  limits: PlanLimits,
  binding: DimensionResult,
  retryAfterMs: number | null,
  level: Level,
  rest: string,
): string {
  const words = LEVEL_WORDS[level];
  const who = `${words.noun} ${limits.levelNames?.[level] ?? ""}`.trim();
  const reset = rfc3339(binding.resetAtMs);
  if (retryAfterMs === null)
    return `This request alone exceeds the ${words.noun}'s ${rest} limit (${who}, limit ${binding.limit}); it cannot be admitted.`;
  const plan = limits.levelPlans?.[level];
  const ofPlan = plan ? `${who}, plan ${plan}` : who;
  if (rest === "5h") return `The ${words.noun}'s 5-hour limit reached (${ofPlan}), resets at ${reset}.`;
  if (rest === "week" && plan)
    return `The ${words.noun}'s weekly limit reached (${ofPlan}), resets at ${reset}.`;
  if (rest.startsWith("week-"))
    return `The ${words.noun}'s weekly ${capitalize(rest.slice(5))} limit reached (${ofPlan}), resets at ${reset}.`;
  const dollars = `$${(binding.limit / UNITS_PER_USD).toLocaleString("en-US")}`;
  if (rest === "month") return `${words.spend} of ${dollars} per month reached (${who}), resets at ${reset}.`;
  if (rest === "week") return `${words.spend} of ${dollars} per week reached (${who}), resets at ${reset}.`;
  const unit = DIMENSION_WORDS[rest] ?? rest;
  return `Rate limit of ${binding.limit.toLocaleString("en-US")} ${unit} exceeded (${ofPlan}); retry after ${Math.ceil(retryAfterMs / 1000)} s.`;
}

export function limitMessage(
  limits: PlanLimits,
  binding: DimensionResult,
  retryAfterMs: number | null,
): string {
  const level = levelOf(binding.name);
  if (level) return levelMessage(limits, binding, retryAfterMs, level.level, level.rest);
  const plan = `plan ${limits.planName}`;
  const reset = rfc3339(binding.resetAtMs);
  if (retryAfterMs === null) {
    return `This request alone exceeds the ${binding.name} limit of ${plan} (limit ${binding.limit}); it cannot be admitted.`;
  }
  if (binding.name === "5h") return `5-hour limit reached (${plan}), resets at ${reset}.`;
  if (binding.name === "week") return `Weekly limit reached (${plan}), resets at ${reset}.`;
  if (binding.name.startsWith("week-")) {
    return `Weekly ${capitalize(binding.name.slice(5))} limit reached (${plan}), resets at ${reset}.`;
  }
  if (binding.name === "month") {
    return `Monthly spend limit of $${(binding.limit / UNITS_PER_USD).toLocaleString("en-US")} reached (${plan}), resets at ${reset}.`;
  }
  const words = DIMENSION_WORDS[binding.name] ?? binding.name;
  const seconds = Math.ceil(retryAfterMs / 1000);
  return `Rate limit of ${binding.limit.toLocaleString("en-US")} ${words} exceeded (${plan}); retry after ${seconds} s.`;
}

export class Enforcer {
  private readonly averageOutput = new Map<string, number>();
  private leaseCounter = 0;

  constructor(
    private readonly limiter: LimiterStore,
    private readonly policies: PolicyBook,
    private readonly capacity: CapacityProvider,
    private readonly clock: () => number,
  ) {}

  /** The limits that apply to this key and model right now. */
  limitsFor(identity: KeyIdentity, family: string, nowMs: number): PlanLimits {
    const policy = this.policies.inForce(nowMs);
    const scale = policy.capacity_scaling
      ? this.capacity.capacityAt(nowMs, family) / policy.capacity_scaling.baseline
      : 1;
    const limits = planLimits(policy, identity.plan, family, nowMs, scale);
    if (!limits) {
      throw new HeadroomError(
        403,
        "permission_error",
        `Plan ${identity.plan} is not offered by policy ${policy.version}.`,
      );
    }
    // The organisation's, the team's and the key's own limits join the plan's in one decision.
    return withLevels(
      limits,
      identity.levels ?? [],
      nowMs,
      this.levelPlans(identity, policy, family, nowMs, scale),
    );
  }

  /** The plans levels carry, resolved like an account's; a plan the policy lacks refuses. */
  private levelPlans(
    identity: KeyIdentity,
    policy: Policy,
    family: string,
    nowMs: number,
    scale: number,
  ): ReadonlyMap<Level, PlanLimits> | undefined {
    // The request path's common case (no level carries a plan) allocates nothing.
    if (!identity.levels?.some((binding) => binding.limits.plan)) return undefined;
    const plans = new Map<Level, PlanLimits>();
    for (const binding of identity.levels) {
      const name = binding.limits.plan;
      if (!name) continue;
      const limits = planLimits(policy, name, family, nowMs, scale);
      if (!limits) {
        throw new HeadroomError(
          403,
          "permission_error",
          `Plan ${name} of ${binding.level} ${binding.name} is not offered by policy ${policy.version}.`,
        );
      }
      plans.set(binding.level, limits);
    }
    return plans;
  }

  /** The store's decision: without a promise when the store lives in this process. */
  private check(request: CheckRequest): Decision | Promise<Decision> {
    if (this.limiter.checkSync) return this.limiter.checkSync(request);
    return this.limiter.check(request);
  }

  private outputEstimate(account: string, maxTokens: number, limits: PlanLimits): number {
    if (limits.plan.reserve_max_tokens) return maxTokens;
    return Math.min(maxTokens, Math.round(this.averageOutput.get(account) ?? DEFAULT_OUTPUT_ESTIMATE));
  }

  /**
   * Decides the request; throws (or rejects with) the 429 when it is over a limit. With an
   * in-process store an admitted request gets its answer without a promise.
   */
  admit(
    identity: KeyIdentity,
    limits: PlanLimits,
    nowMs: number,
    maxTokens: number,
    inputTokens: number,
    endpoint: "anthropic" | "openai",
  ): Admission | Promise<Admission> {
    const estimate: Usage = {
      ...emptyUsage(),
      input_tokens: inputTokens,
      output_tokens: this.outputEstimate(identity.account, maxTokens, limits),
    };
    const leaseId = `${process.pid}-${++this.leaseCounter}`;
    const key = identity.account;
    const slot = identity.organisation ?? undefined;
    const conclude = (decision: Decision): Admission | Promise<Admission> => {
      const admission: Admission = {
        limits,
        key,
        slot,
        estimate,
        decision,
        leaseId,
        nowMs,
        onCredits: false,
      };
      return decision.admitted ? admission : this.refused(identity, admission, endpoint);
    };
    const decision = this.check({
      key,
      slot,
      dimensions: limits.dimensions,
      costs: limits.costs(estimate),
      leaseId,
    });
    return decision instanceof Promise ? decision.then(conclude) : conclude(decision);
  }

  /** Past a limit: usage credits may continue the work, otherwise the 429. */
  private async refused(
    identity: KeyIdentity,
    admission: Admission,
    endpoint: "anthropic" | "openai",
  ): Promise<Admission> {
    const credits = await this.tryCredits(identity, admission);
    if (credits) return credits;
    throw this.rejection(
      admission,
      endpoint,
      identity.creditsCapUsd !== null && admission.limits.plan.kind === "subscription",
    );
  }

  /** Past a subscription window, an account with credits continues on them, up to its cap. */
  private async tryCredits(identity: KeyIdentity, refused: Admission): Promise<Admission | undefined> {
    const { limits, decision, estimate, nowMs } = refused;
    if (limits.plan.kind !== "subscription" || identity.creditsCapUsd === null || identity.creditsCapUsd <= 0)
      return undefined;
    // Only budget windows can be bought past; a request too large for any window is not helped.
    if (decision.retryAfterMs === null) return undefined;
    // Credits continue past the plan's windows, never past an organisation's, team's or key's own.
    const levelRefused = decision.dimensions.some(
      (dimension) => dimension.admitAtMs !== nowMs && levelOf(dimension.name) !== undefined,
    );
    if (levelRefused) return undefined;
    const credits = withLevels(
      creditLimits(limits, identity.creditsCapUsd, nowMs),
      identity.levels ?? [],
      nowMs,
    );
    const creditDecision = await this.check({
      key: refused.key,
      slot: refused.slot,
      dimensions: credits.dimensions,
      costs: credits.costs(estimate),
    });
    if (!creditDecision.admitted) return undefined;
    return { ...refused, limits: credits, decision: creditDecision, onCredits: true };
  }

  private rejection(
    admission: Admission,
    endpoint: "anthropic" | "openai",
    creditsUsedUp = false,
  ): HeadroomError {
    const { decision, limits } = admission;
    let binding = decision.dimensions[0] as DimensionResult;
    for (const dimension of decision.dimensions)
      if (dimension.admitAtMs > binding.admitAtMs) binding = dimension;
    const retryAfterMs = decision.retryAfterMs;
    const headers = this.headers(admission, endpoint);
    if (retryAfterMs !== null) {
      headers["retry-after"] = String(Math.ceil(retryAfterMs / 1000));
      headers["retry-after-ms"] = String(retryAfterMs);
    }
    // SDKs retry 429s; beyond a minute (a 5-hour or weekly limit) retrying only burns attempts.
    headers["x-should-retry"] = retryAfterMs !== null && retryAfterMs <= 60_000 ? "true" : "false";
    const suffix = creditsUsedUp ? " Usage credits for this month are used up too." : "";
    return new HeadroomError(429, "rate_limit_error", limitMessage(limits, binding, retryAfterMs) + suffix, {
      headers,
      dimension: binding.name,
    });
  }

  headers(admission: Admission, endpoint: "anthropic" | "openai"): Record<string, string> {
    const headers =
      endpoint === "anthropic"
        ? anthropicRateLimitHeaders(admission.decision)
        : openAIRateLimitHeaders(admission.decision, admission.nowMs);
    if (admission.onCredits) headers["headroom-usage-credits"] = "in-use";
    return headers;
  }

  /**
   * Charges the difference between the actual usage and the estimate; releases the lease.
   * Settled in place (no promise) with an in-process store.
   */
  settle(admission: Admission, actual: Usage): void | Promise<void> {
    const { limits, estimate } = admission;
    const before = limits.costs(estimate);
    const after = limits.costs(actual);
    // A request's requests/min charge stands whatever happened; everything else follows usage.
    const deltas = after.map((cost, i) => {
      const name = limits.dimensions[i]?.name ?? "";
      return name === "rpm" || name.endsWith("-rpm") ? 0 : cost - (before[i] ?? 0);
    });
    if (actual.output_tokens > 0) {
      const previous = this.averageOutput.get(admission.key) ?? DEFAULT_OUTPUT_ESTIMATE;
      this.averageOutput.set(admission.key, previous + AVERAGE_WEIGHT * (actual.output_tokens - previous));
    }
    const request = {
      key: admission.key,
      slot: admission.slot,
      dimensions: limits.dimensions,
      deltas,
      leaseId: admission.leaseId,
    };
    if (this.limiter.reconcileSync) return this.limiter.reconcileSync(request);
    return this.limiter.reconcile(request);
  }

  /** The key's limits now, without consuming anything (GET /v1/headroom/limits). */
  async peek(
    identity: KeyIdentity,
    family: string,
  ): Promise<{ limits: PlanLimits; decision: Decision; nowMs: number }> {
    const nowMs = this.clock();
    const limits = this.limitsFor(identity, family, nowMs);
    const decision = await this.check({
      key: identity.account,
      slot: identity.organisation ?? undefined,
      dimensions: limits.dimensions,
      costs: limits.dimensions.map(() => 0),
      leaseId: "peek",
      dryRun: true,
    });
    return { limits, decision, nowMs };
  }
}
