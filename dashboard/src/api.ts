/** The admin API from the browser: the token lives in this tab's session storage only. */
const TOKEN = "headroom-admin-token";

export const token = {
  get: () => sessionStorage.getItem(TOKEN),
  set: (value: string) => sessionStorage.setItem(TOKEN, value),
  clear: () => sessionStorage.removeItem(TOKEN),
};

export class Unauthorized extends Error {}

export async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const response = await fetch(`/admin/v1${path}`, {
    method: init.method ?? "GET",
    headers: {
      authorization: `Bearer ${token.get() ?? ""}`,
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const body = (await response.json().catch(() => ({}))) as T & { error?: { message?: string } };
  if (response.status === 401 || response.status === 403)
    throw new Unauthorized(body.error?.message ?? "Not allowed");
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}

export interface Overview {
  at: number;
  families: Array<{
    family: string;
    demand_tokens_per_second: number;
    capacity_tokens_per_second: number | null;
  }>;
  requests: { total: number; rate_limited: number; overloaded: number };
  latency_ms: { p50: number | null; p99: number | null };
}

/** The part of GET /live the overview shows: whether the stores behind the limits answer. */
export interface Live {
  in_flight: number;
  limiter: string;
  limiter_state: "up" | "failing open" | "failing closed";
  ledger: { pending: number; saturated: boolean };
}

export interface AccountRow {
  account: string;
  plan: string;
  team: string | null;
  keys: Array<{ id: string; prefix: string; revoked: boolean }>;
  windows: Array<{ name: string; used: number; limit: number; resets_at: string }>;
}

export interface PolicyRow {
  version: string;
  effective_from: string;
  status: string;
  description: string | null;
}

export interface Fleet {
  file: string;
  at: string;
  pools: Array<{ site: string; gpu: string; installed: number; online: number; deal: string | null }>;
  timeline: Array<{ at: string; tokens_per_second: Record<string, number> }>;
  orbits: Array<{
    site: string;
    at: string;
    period_s: number;
    samples: Array<{ minute: number; gpus_online: number }>;
  }>;
}

export interface PlanSide {
  at: string;
  gpus_online: number;
  sustainable_5h_multiplier: { value: number; at_search_limit: boolean };
  sustainable_api_multiplier: { value: number; at_search_limit: boolean };
  margin: { baseline: number; doubled_peak_lifted: number };
  verdicts: { double_5h_lift_peak: boolean; raise_api: boolean };
  utilisation: { mean: number; peak: number };
}

export interface PlanRun {
  plan: { before: PlanSide; after: PlanSide; demand_scale: number; target_overload_share: number | null };
  charts: { week_before: string; week_after: string; tornado: string };
  proposal: {
    policy: Record<string, unknown> & { version: string; effective_from: string };
    notes: string;
    source: string;
  };
  seconds: number;
}

export interface PolicyDraft {
  id: string;
  version: string;
  effective_from: string;
  status: "draft" | "approved" | "rejected";
  proposed_at: string;
  proposed_by: string;
  source: string | null;
  decided_at: string | null;
  decided_by: string | null;
}

export interface DraftDiff {
  draft: PolicyDraft;
  against: string;
  changes: Array<{ path: string; before: unknown; after: unknown; margin: string }>;
}

export interface AuditEntry {
  at: string;
  actor: string;
  action: string;
  version: string;
  draft_id: string | null;
  source: string | null;
}
