/**
 * A deliberately simple limiter to check the real ones against: exact BigInt arithmetic,
 * per-dimension objects, copy-then-commit for atomicity, no optimisation at all.
 */
import type { Decision, DimensionResult, DimensionSpec } from "../../src/limits/dimension.ts";

type RateState = { level: bigint; last: number };
type WindowState = { start: number; used: number };
type LeaseState = Map<string, number>;

const INF = Number.POSITIVE_INFINITY;
const ceilDiv = (a: bigint, b: bigint) => (a <= 0n ? 0n : (a + b - 1n) / b);

export class ReferenceLimiter {
  private readonly rates = new Map<string, RateState>();
  private readonly windows = new Map<string, WindowState>();
  private readonly leases = new Map<string, LeaseState>();

  private rateLevel(id: string, spec: Extract<DimensionSpec, { kind: "rate" }>, now: number): bigint {
    const full = BigInt(spec.limit) * BigInt(spec.periodMs);
    const state = this.rates.get(id);
    if (!state) return full;
    const elapsed = BigInt(Math.max(0, now - state.last));
    const refilled = state.level + elapsed * BigInt(spec.limit);
    return refilled < full ? refilled : full;
  }

  private windowStart(
    id: string,
    spec: Extract<DimensionSpec, { kind: "window" }>,
    now: number,
  ): number | undefined {
    if (spec.anchorMs !== undefined)
      return spec.anchorMs + Math.floor((now - spec.anchorMs) / spec.periodMs) * spec.periodMs;
    const state = this.windows.get(id);
    return state && now < state.start + spec.periodMs ? state.start : undefined;
  }

  check(
    key: string,
    specs: readonly DimensionSpec[],
    now: number,
    costs: readonly number[],
    leaseId: string,
  ): Decision {
    const results: DimensionResult[] = [];
    const commits: Array<() => void> = [];
    for (const [i, spec] of specs.entries()) {
      const id = `${key}/${spec.name}`;
      const cost = costs[i] ?? 0;
      if (spec.kind === "rate") {
        const L = BigInt(spec.limit);
        const P = BigInt(spec.periodMs);
        const level = this.rateLevel(id, spec, now);
        const ok = level >= BigInt(cost) * P;
        const after = ok ? level - BigInt(cost) * P : level;
        results.push({
          name: spec.name,
          limit: spec.limit,
          remaining: after > 0n ? Number(after / P) : 0,
          resetAtMs: now + Number(ceilDiv(L * P - after, L)),
          admitAtMs: ok ? now : cost > spec.limit ? INF : now + Number(ceilDiv(BigInt(cost) * P - level, L)),
        });
        commits.push(() => this.rates.set(id, { level: after, last: now }));
      } else if (spec.kind === "window") {
        const running = this.windowStart(id, spec, now);
        const start = running ?? now;
        const state = this.windows.get(id);
        const used = state && state.start === start ? state.used : 0;
        const ok = used + cost <= spec.limit;
        const after = ok ? used + cost : used;
        results.push({
          name: spec.name,
          limit: spec.limit,
          remaining: Math.max(0, spec.limit - after),
          resetAtMs: start + spec.periodMs,
          admitAtMs: ok ? now : cost > spec.limit ? INF : start + spec.periodMs,
        });
        commits.push(() => this.windows.set(id, { start, used: after }));
      } else {
        const live = [...(this.leases.get(id) ?? new Map()).entries()].filter(([, expiry]) => expiry > now);
        const ok = live.length < spec.limit;
        const soonest = live.length > 0 ? Math.min(...live.map(([, expiry]) => expiry)) : INF;
        results.push({
          name: spec.name,
          limit: spec.limit,
          remaining: spec.limit - live.length - (ok ? 1 : 0),
          resetAtMs: soonest === INF ? now : soonest,
          admitAtMs: ok ? now : spec.limit === 0 ? INF : soonest,
        });
        commits.push(() => this.leases.set(id, new Map([...live, [leaseId, now + spec.leaseMs]])));
      }
    }
    const admitted = results.every((result) => result.admitAtMs <= now);
    if (admitted) for (const commit of commits) commit();
    const latest = Math.max(now, ...results.map((result) => result.admitAtMs));
    return {
      admitted,
      retryAfterMs: admitted ? 0 : latest === INF ? null : latest - now,
      dimensions: results,
      atMs: now,
    };
  }

  reconcile(
    key: string,
    specs: readonly DimensionSpec[],
    now: number,
    deltas: readonly number[],
    leaseId: string,
  ): void {
    for (const [i, spec] of specs.entries()) {
      const id = `${key}/${spec.name}`;
      const delta = deltas[i] ?? 0;
      if (spec.kind === "concurrency") this.leases.get(id)?.delete(leaseId);
      else if (delta === 0) continue;
      else if (spec.kind === "rate") {
        const full = BigInt(spec.limit) * BigInt(spec.periodMs);
        const level = this.rateLevel(id, spec, now) - BigInt(delta) * BigInt(spec.periodMs);
        this.rates.set(id, { level: level < full ? level : full, last: now });
      } else {
        const running = this.windowStart(id, spec, now);
        const state = this.windows.get(id);
        if (running !== undefined && state && state.start === running) {
          this.windows.set(id, { start: running, used: Math.max(0, state.used + delta) });
        }
      }
    }
  }
}
