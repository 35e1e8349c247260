/**
 * Enforcement: a request's plan (from the policy in force at the clock's time) becomes one
 * limiter decision over every dimension, returned as a value: an Admission (the grant, which is
 * reconciled with the actual usage when the request ends) or a Refusal that names the limit
 * that refused, from the same reading, and says when it has room. The edge turns a Refusal into
 * the 429 of the client's protocol (edge/limit-headers.ts); nothing here knows HTTP. While an admitted request runs, its
 * concurrency leases (and, on a shared store, its charge record) are kept alive; they expire
 * only once no gateway keeps them, and every gateway sweeps for requests lost that way.
 */
import { randomBytes } from "node:crypto";
import type { KeyIdentity } from "../accounts/account-store.ts";
import { HeadroomError } from "../common/errors.ts";
import { DEFAULT_LEASE_MS } from "../limits/concurrency.ts";
import type { Decision, DimensionResult } from "../limits/dimension.ts";
import type { CheckRequest, LimiterStore, RecordedRequests } from "../limits/limiter-store.ts";
import { bindingShortfall, shortfalls } from "../limits/shortfall.ts";
import type { CapacityProvider } from "../plans/capacity-provider.ts";
import { type Level, withLevels } from "../plans/level-limits.ts";
import { creditLimits, type PlanLimits, planLimits, withLeaseMs } from "../plans/plan-limits.ts";
import type { PolicyBook } from "../plans/policy-book.ts";
import type { Policy } from "../plans/schema.ts";
import { emptyUsage, type Usage } from "../protocol/anthropic.ts";
import { LeaseKeeper } from "./lease-keeper.ts";
import { OutputEstimates } from "./output-estimate.ts";
import { type CreditsState, isSpendCap, levelOf, refusalMessage } from "./refusal-message.ts";

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
  requestId?: string | undefined;
}

/**
 * A request past a limit: the dimension that refused (the one admitting last, as its own
 * reading advises), when it has room, and the message that explains it — all from the one
 * decision, never a re-read.
 */
export interface Refusal {
  refused: true;
  /** The refused decision, with the limits and estimate it was made for. */
  admission: Admission;
  /** The binding dimension's reading (name, limit, what is left). */
  binding: DimensionResult;
  /** When the binding dimension has room (null: the request can never fit it). */
  retryAfterMs: number | null;
  /** A used-up spend cap: usage resumes at the period's start, so no retry-after. */
  spendCap: boolean;
  message: string;
}

export const isRefusal = (outcome: Admission | Refusal): outcome is Refusal => "refused" in outcome;

export interface EnforcerOptions {
  /** How long a concurrency lease lives unless kept alive (limiter.concurrency_lease_ms). */
  leaseMs?: number;
  /** Told when keeping leases alive failed for a reason other than the store being down. */
  onKeepAliveError?: (error: unknown) => void;
  /** Told how many lost requests (their gateway died) a sweep refunded, when any. */
  onLostRefunded?: (count: number) => void;
  /** Which requests the ledger holds: a lost request it holds keeps its charge. */
  recorded?: RecordedRequests;
}

export class Enforcer {
  private readonly outputs = new OutputEstimates();
  /** Lease ids are unique across gateways: process ids repeat across containers. */
  private readonly instance = randomBytes(6).toString("base64url");
  private leaseCounter = 0;
  private readonly leaseMs: number;
  /** Requests still running whose leases or charge records this gateway keeps alive. */
  private readonly keeper: LeaseKeeper;
  private sweeper: NodeJS.Timeout | undefined;
  /** CheckRequest.refundIfLostAfterMs, with a store that refunds lost requests. */
  private readonly lostAfterMs: number | undefined;

  constructor(
    private readonly limiter: LimiterStore,
    private readonly policies: PolicyBook,
    private readonly capacity: CapacityProvider,
    private readonly clock: () => number,
    private readonly options: EnforcerOptions = {},
  ) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.keeper = new LeaseKeeper(limiter, this.keepAliveEveryMs, options.onKeepAliveError);
    // A request nobody kept alive for a lease time is lost: its charges are refunded.
    this.lostAfterMs = limiter.refundsLostRequests ? this.leaseMs : undefined;
    if (limiter.refundLost) {
      this.sweeper = setInterval(() => void this.refundLost(), this.keepAliveEveryMs);
      this.sweeper.unref();
    }
  }

  private get keepAliveEveryMs(): number {
    return Math.max(1, Math.floor(this.leaseMs / 3));
  }

  /**
   * Refunds requests whose gateway died (any gateway's, this sweep's included): the sweeper's
   * work, every third of the lease time.
   */
  async refundLost(): Promise<number> {
    try {
      const count = (await this.limiter.refundLost?.(this.options.recorded)) ?? 0;
      if (count > 0) this.options.onLostRefunded?.(count);
      return count;
    } catch (error) {
      this.options.onKeepAliveError?.(error);
      return 0;
    }
  }

  /** The limits that apply to this key and model right now. */
  limitsFor(identity: KeyIdentity, family: string, nowMs: number): PlanLimits {
    const policy = this.policies.inForce(nowMs);
    const scale = policy.capacity_scaling
      ? this.capacity.capacityAt(nowMs, family) / policy.capacity_scaling.baseline
      : 1;
    const limits = planLimits(policy, identity.plan, family, nowMs, scale);
    if (!limits) {
      throw new HeadroomError(
        "plan_not_offered",
        `Plan ${identity.plan} is not offered by policy ${policy.version}.`,
      );
    }
    // The organisation's, the team's and the key's own limits join the plan's in one decision.
    const levels = withLevels(
      limits,
      identity.levels ?? [],
      nowMs,
      this.levelPlans(identity, policy, family, nowMs, scale),
    );
    return withLeaseMs(levels, this.leaseMs);
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
          "plan_not_offered",
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
    return this.outputs.estimate(account, maxTokens);
  }

  /**
   * Decides the request: an Admission, or a Refusal past a limit that credits do not carry.
   * With an in-process store an admitted request gets its answer without a promise.
   */
  admit(
    identity: KeyIdentity,
    limits: PlanLimits,
    nowMs: number,
    maxTokens: number,
    inputTokens: number,
    /** Kept with the charge, so a sweep can tell a lost request from one the ledger holds. */
    requestId?: string,
  ): Admission | Refusal | Promise<Admission | Refusal> {
    const estimate: Usage = {
      ...emptyUsage(),
      input_tokens: inputTokens,
      output_tokens: this.outputEstimate(identity.account, maxTokens, limits),
    };
    const leaseId = `${this.instance}-${++this.leaseCounter}`;
    const key = identity.account;
    const slot = identity.organisation ?? undefined;
    const conclude = (decision: Decision): Admission | Refusal | Promise<Admission | Refusal> => {
      const admission: Admission = {
        limits,
        key,
        slot,
        estimate,
        decision,
        leaseId,
        nowMs,
        onCredits: false,
        requestId,
      };
      if (!decision.admitted) return this.refused(identity, admission);
      this.hold(admission);
      return admission;
    };
    const decision = this.check({
      key,
      slot,
      dimensions: limits.dimensions,
      costs: limits.costs(estimate),
      leaseId,
      refundIfLostAfterMs: this.lostAfterMs,
      ...(requestId === undefined ? {} : { requestId }),
    });
    return decision instanceof Promise ? decision.then(conclude) : conclude(decision);
  }

  /** Past a limit: usage credits may continue the work, otherwise the refusal. */
  private async refused(identity: KeyIdentity, admission: Admission): Promise<Admission | Refusal> {
    const credits = await this.tryCredits(identity, admission);
    if (credits) {
      this.hold(credits);
      return credits;
    }
    return this.refusal(admission, identity.creditsCapUsd !== null && identity.creditsCapUsd > 0);
  }

  /** Past a subscription window, an account with credits continues on them, up to its cap. */
  private async tryCredits(identity: KeyIdentity, refused: Admission): Promise<Admission | undefined> {
    const { limits, decision, estimate, nowMs } = refused;
    if (limits.plan.kind !== "subscription" || identity.creditsCapUsd === null || identity.creditsCapUsd <= 0)
      return undefined;
    // Only budget windows can be bought past; a request too large for any window is not helped.
    if (decision.retryAfterMs === null) return undefined;
    // Credits continue past the plan's windows, never past an organisation's, team's or key's own.
    const levelRefused = shortfalls(decision, limits.dimensions).some(
      ({ dimension }) => levelOf(dimension.name) !== undefined,
    );
    if (levelRefused) return undefined;
    const credits = withLeaseMs(
      withLevels(creditLimits(limits, identity.creditsCapUsd, nowMs), identity.levels ?? [], nowMs),
      this.leaseMs,
    );
    const creditDecision = await this.check({
      key: refused.key,
      slot: refused.slot,
      dimensions: credits.dimensions,
      costs: credits.costs(estimate),
      leaseId: refused.leaseId,
      refundIfLostAfterMs: this.lostAfterMs,
      ...(refused.requestId === undefined ? {} : { requestId: refused.requestId }),
    });
    if (!creditDecision.admitted) return undefined;
    return { ...refused, limits: credits, decision: creditDecision, onCredits: true };
  }

  private refusal(
    admission: Admission,
    /** The account has usage credits (so, refused past a window, they are used up). */
    hasCredits: boolean,
  ): Refusal {
    const { decision, limits, estimate } = admission;
    // The binding dimension is the one admitting last, as advised (a full concurrency slot
    // advises a short poll, not its lease's expiry), read from the decision's own instant.
    const shortfall = bindingShortfall(decision, limits.dimensions);
    if (!shortfall) throw new Error("a refusal without a refusing dimension");
    const { dimension: binding, index: at } = shortfall;
    const retryAfterMs =
      decision.retryAfterMs === null ? null : Math.max(0, Math.min(decision.retryAfterMs, shortfall.waitMs));
    const spendCap = isSpendCap(limits, binding.name);
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
    return { refused: true, admission, binding, retryAfterMs, spendCap, message };
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
    this.outputs.observe(admission.key, actual.output_tokens);
    this.keeper.letGo(admission.leaseId);
    const request = {
      key: admission.key,
      slot: admission.slot,
      dimensions: limits.dimensions,
      deltas,
      leaseId: admission.leaseId,
      refundIfLostAfterMs: this.lostAfterMs,
    };
    if (this.limiter.reconcileSync) return this.limiter.reconcileSync(request);
    return this.limiter.reconcile(request);
  }

  /** Keeps the admitted request's concurrency leases and charge record alive until it settles. */
  private hold(admission: Admission): void {
    const { key, slot, limits, leaseId } = admission;
    const refundIfLostAfterMs = this.lostAfterMs;
    if (refundIfLostAfterMs === undefined && !limits.dimensions.some((spec) => spec.kind === "concurrency"))
      return;
    this.keeper.hold({ key, slot, dimensions: limits.dimensions, leaseId, refundIfLostAfterMs });
  }

  /** Requests whose leases this gateway keeps alive. */
  get heldLeases(): number {
    return this.keeper.size;
  }

  /** Extends the lease of every running request now (the keeper's timer does it every third of the lease time). */
  keepAlive(): Promise<void> {
    return this.keeper.keepAlive();
  }

  /** Stops keeping leases alive (the gateway is closing). */
  close(): void {
    this.keeper.close();
    clearInterval(this.sweeper);
    this.sweeper = undefined;
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
