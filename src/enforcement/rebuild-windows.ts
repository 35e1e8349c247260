/**
 * The ledger is the source of truth for long windows (DESIGN.md, decision 5): at start, the
 * usage of every request that could still sit in a running window — the last week, and the
 * current month for monthly spend — is replayed into the limiter, so a restart forgets no
 * 5-hour, weekly, monthly or usage-credit window. Each row is charged as the enforcer charged
 * it live: the plan in force at the row's time, its costs from the row's actual usage, on the
 * credits windows if it was served on credits.
 */

import type { KeyIdentity } from "../accounts/account-store.ts";
import { HeadroomError } from "../common/errors.ts";
import { chargedTokens } from "../ledger/billing.ts";
import type { Ledger } from "../ledger/usage-event.ts";
import type { LimiterStore } from "../limits/limiter-store.ts";
import { withLevels } from "../plans/level-limits.ts";
import { creditLimits, WEEK_MS } from "../plans/plan-limits.ts";
import type { Enforcer } from "./enforcer.ts";

export interface RebuildSources {
  ledger: Pick<Ledger, "replay">;
  limiter: LimiterStore;
  enforcer: Pick<Enforcer, "limitsFor">;
  /** The identity behind a key id, revoked keys included. */
  identityOfKey(keyId: string): Promise<KeyIdentity | undefined>;
  /** The model family a recorded model id belongs to, if the catalog still knows it. */
  familyOf(model: string): string | undefined;
}

export interface RebuildReport {
  rows: number;
  accounts: number;
  /** Rows that could not be charged: unknown key, model or plan. */
  skipped: number;
  sinceMs: number;
}

/** The earliest instant whose usage can still be in a running window at `nowMs`. */
export function replayHorizon(nowMs: number): number {
  const now = new Date(nowMs);
  const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  return Math.min(nowMs - WEEK_MS, monthStart);
}

export async function rebuildWindows(sources: RebuildSources, nowMs: number): Promise<RebuildReport> {
  const replay = sources.limiter.replay?.bind(sources.limiter);
  const sinceMs = replayHorizon(nowMs);
  const report: RebuildReport = { rows: 0, accounts: 0, skipped: 0, sinceMs };
  if (!replay) return report;
  const identities = new Map<string, KeyIdentity | undefined>();
  const accounts = new Set<string>();
  for await (const row of sources.ledger.replay(sinceMs)) {
    report.rows++;
    if (!row.key_id || !row.model || row.at_ms > nowMs) {
      report.skipped++;
      continue;
    }
    if (!identities.has(row.key_id)) identities.set(row.key_id, await sources.identityOfKey(row.key_id));
    const identity = identities.get(row.key_id);
    const family = sources.familyOf(row.model);
    if (!identity || !family) {
      report.skipped++;
      continue;
    }
    let limits: ReturnType<Enforcer["limitsFor"]>;
    try {
      limits = sources.enforcer.limitsFor(identity, family, row.at_ms);
    } catch (error) {
      // The plan is no longer offered: nothing of it can be enforced now either.
      if (!(error instanceof HeadroomError)) throw error;
      report.skipped++;
      continue;
    }
    if (row.on_credits && identity.creditsCapUsd !== null) {
      limits = withLevels(
        creditLimits(limits, identity.creditsCapUsd, row.at_ms),
        identity.levels ?? [],
        row.at_ms,
      );
    }
    // Charged as it was live: a service failure not at all, or only its delivered output.
    const costs = limits.costs(
      chargedTokens(
        {
          input_tokens: row.input_tokens,
          output_tokens: row.output_tokens,
          cache_creation_input_tokens: row.cache_creation_input_tokens,
          cache_read_input_tokens: row.cache_read_input_tokens,
          cache_creation_1h_input_tokens: row.cache_creation_1h_input_tokens,
        },
        row.billing,
      ),
    );
    // Team, organisation and key budgets are rebuilt with the account's (the levels as they
    // stand now: usage is charged to the team the account is in today).
    await replay({
      key: row.account ?? identity.account,
      slot: identity.organisation ?? undefined,
      dimensions: limits.dimensions,
      atMs: row.at_ms,
      costs,
    });
    accounts.add(row.account ?? identity.account);
  }
  report.accounts = accounts.size;
  return report;
}
