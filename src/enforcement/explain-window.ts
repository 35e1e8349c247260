/**
 * "Why am I limited?" in one answer: the ledger rows behind one of an account's windows (5-hour,
 * weekly, monthly…), each with what it cost, what was charged and what was refunded and why.
 * The window is walked exactly as the limiter charged it live and as a restart rebuilds it
 * (rebuild-windows.ts): the plan in force at each row's time, each row charged as its billing
 * says, a first-use window starting with the first charged request after the last one ended.
 */

import type { KeyIdentity } from "../accounts/account-store.ts";
import { HeadroomError } from "../common/errors.ts";
import { chargedTokens } from "../ledger/billing.ts";
import type { Ledger, UsageEvent } from "../ledger/usage-event.ts";
import type { WindowSpec } from "../limits/dimension.ts";
import { chargeWindow, currentStart } from "../limits/window.ts";
import { UNITS_PER_USD } from "../plans/usage-units.ts";
import type { Enforcer } from "./enforcer.ts";
import { replayHorizon } from "./rebuild-windows.ts";

export interface ExplainSources {
  ledger: Pick<Ledger, "replay">;
  enforcer: Pick<Enforcer, "limitsFor">;
  /** The model family a recorded model id belongs to, if the catalog still knows it. */
  familyOf(model: string): string | undefined;
}

export interface ExplainedEntry {
  at: string;
  request_id: string;
  key_id: string | null;
  model: string | null;
  status: number;
  /** Why it ended as it did: the error type, or null for a success. */
  reason: string | null;
  billing: UsageEvent["billing"];
  input_tokens: number;
  output_tokens: number;
  /** What the usage costs at the window's prices, charged or not. */
  cost_usd: number;
  charged_usd: number;
  refunded_usd: number;
}

export interface WindowExplanation {
  account: string;
  plan: string;
  window: string;
  /** Null when no window is running (nothing charged, or the last one has ended). */
  started_at: string | null;
  resets_at: string | null;
  limit_usd: number;
  used_usd: number;
  entries: ExplainedEntry[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const usd = (units: number) => units / UNITS_PER_USD;

/** The rows behind `window` of the identity's account as of `nowMs`, oldest first. */
export async function explainWindow(
  sources: ExplainSources,
  identity: KeyIdentity,
  window: string,
  nowMs: number,
): Promise<WindowExplanation> {
  // A family's own weekly cap ("week-sonnet") exists only in that family's limits.
  const family = window.startsWith("week-") ? window.slice(5) : "sonnet";
  // The window as the plan defines it now (its limit), and whether the plan has it at all.
  const current = sources.enforcer
    .limitsFor(identity, family, nowMs)
    .dimensions.find(
      (dimension): dimension is WindowSpec => dimension.name === window && dimension.kind === "window",
    );
  if (!current) {
    const names = sources.enforcer
      .limitsFor(identity, family, nowMs)
      .dimensions.filter((dimension) => dimension.kind === "window")
      .map((dimension) => dimension.name);
    throw new HeadroomError(
      "no_such_window",
      `Plan ${identity.plan} has no ${window} window; it has ${names.join(", ") || "none"}.`,
    );
  }
  let spec: WindowSpec = current;
  let a = Number.NaN;
  let b = 0;
  const step = { admitAtMs: 0, remaining: 0, resetAtMs: 0, a: 0, b: 0 };
  let entries: ExplainedEntry[] = [];
  for await (const row of sources.ledger.replay(replayHorizon(nowMs), { account: identity.account })) {
    if (row.at_ms > nowMs || !row.model || row.on_credits) continue;
    const family = sources.familyOf(row.model);
    if (!family) continue;
    let limits: ReturnType<Enforcer["limitsFor"]>;
    try {
      limits = sources.enforcer.limitsFor(identity, family, row.at_ms);
    } catch (error) {
      if (error instanceof HeadroomError) continue; // a plan no longer offered charges nothing now
      throw error;
    }
    const at = limits.dimensions.findIndex((dimension) => dimension.name === window);
    const found = limits.dimensions[at];
    if (found?.kind !== "window") continue;
    spec = found;
    const cost = limits.costs(row)[at] ?? 0;
    const charged = limits.costs(chargedTokens(row, row.billing))[at] ?? 0;
    const before = currentStart(a, spec, row.at_ms);
    chargeWindow(a, b, spec, row.at_ms, charged, step);
    a = step.a;
    b = step.b;
    // A new window began: what came before it no longer counts.
    if (!Number.isNaN(a) && a !== before) entries = entries.filter((entry) => Date.parse(entry.at) >= a);
    if (Number.isNaN(currentStart(a, spec, row.at_ms))) continue; // refunded, and no window running
    entries.push({
      at: iso(row.at_ms),
      request_id: row.request_id,
      key_id: row.key_id,
      model: row.model,
      status: row.status,
      reason: row.error_type,
      billing: row.billing,
      input_tokens: row.input_tokens,
      output_tokens: row.output_tokens,
      cost_usd: usd(cost),
      charged_usd: usd(charged),
      refunded_usd: usd(cost - charged),
    });
  }
  const start = currentStart(a, spec, nowMs);
  const running = !Number.isNaN(start);
  return {
    account: identity.account,
    plan: identity.plan,
    window,
    started_at: running ? iso(start) : null,
    resets_at: running ? iso(start + spec.periodMs) : null,
    limit_usd: usd(current.limit),
    used_usd: running && a === start ? usd(b) : 0,
    entries: running ? entries.filter((entry) => Date.parse(entry.at) >= start) : [],
  };
}
