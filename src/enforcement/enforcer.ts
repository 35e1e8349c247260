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
import { type Level, withLevels } from "../plans/level-limits.ts";
import { creditLimits, type PlanLimits, planLimits } from "../plans/plan-limits.ts";
import type { PolicyBook } from "../plans/policy-book.ts";
import type { Policy } from "../plans/schema.ts";
import { emptyUsage, type Usage } from "../protocol/anthropic.ts";
import { anthropicRateLimitHeaders, openAIRateLimitHeaders } from "../protocol/rate-limit-headers.ts";
import type { KeyIdentity } from "../stores/store.ts";
import { type CreditsState, levelOf, refusalMessage } from "./refusal-message.ts";

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
    throw this.rejection(admission, endpoint, identity.creditsCapUsd !== null && identity.creditsCapUsd > 0);
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
    /** The account has usage credits (so, refused past a window, they are used up). */
    hasCredits: boolean,
  ): HeadroomError {
    const { decision, limits, estimate } = admission;
    let at = 0;
    decision.dimensions.forEach((dimension, i) => {
      if (dimension.admitAtMs > (decision.dimensions[at] as DimensionResult).admitAtMs) at = i;
    });
    const binding = decision.dimensions[at] as DimensionResult;
    const retryAfterMs = decision.retryAfterMs;
    const headers = this.headers(admission, endpoint);
    if (retryAfterMs !== null) {
      headers["retry-after"] = String(Math.ceil(retryAfterMs / 1000));
      headers["retry-after-ms"] = String(retryAfterMs);
    }
    // SDKs retry 429s; beyond a minute (a 5-hour or weekly limit) retrying only burns attempts.
    headers["x-should-retry"] = retryAfterMs !== null && retryAfterMs <= 60_000 ? "true" : "false";
    // Credits can continue past the plan's own subscription windows, not a level's or a rate.
    const creditable =
      limits.plan.kind === "subscription" &&
      levelOf(binding.name) === undefined &&
      binding.name !== "concurrency";
    const credits: CreditsState =
      !creditable || retryAfterMs === null ? "not applicable" : hasCredits ? "used up" : "off";
    const message = refusalMessage({
      limits,
      binding,
      needed: limits.costs(estimate)[at] ?? 0,
      retryAfterMs,
      credits,
    });
    return new HeadroomError(429, "rate_limit_error", message, { headers, dimension: binding.name });
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
