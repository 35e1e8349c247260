/** What the admin API's resource routes share: its services, schemas, lookups and the plan-name check. */
import { z } from "zod";
import type { AccountStore } from "../../accounts/account-store.ts";
import { HeadroomError, notFound } from "../../common/errors.ts";
import { levelLimitsSchema } from "../../plans/level-limits.ts";
import type { PolicyBook } from "../../plans/policy-book.ts";
import type { PolicyStore } from "../../plans/policy-store.ts";
import type { EdgeServices } from "../services.ts";
import type { AdminToken } from "./admin-token.ts";

export const ADMIN_PREFIX = "/admin/v1";

export interface AdminServices
  extends Pick<
    EdgeServices,
    | "config"
    | "clock"
    | "identities"
    | "router"
    | "upstreams"
    | "admission"
    | "inFlight"
    | "ledger"
    | "metrics"
    | "enforcer"
    | "fleet"
  > {
  accounts: AccountStore;
  policies: PolicyBook;
  policyStore: PolicyStore;
  adminToken: AdminToken;
  /** Which limiter store decides, for the live view. */
  limiterKind: string;
  /** Whether the shared limiter store answers (absent: limits live in this process). */
  limiterStore?: { readonly isUp: boolean } | undefined;
}

export const name = z.string().min(1).max(200);
export const limits = levelLimitsSchema;
export const level = z.object({
  name: z.string(),
  organisation: z.string().optional(),
  limits,
  created_at: z.string(),
});
export const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });
export const key = z.object({
  id: z.string(),
  account: z.string(),
  plan: z.string(),
  prefix: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export const explanationSchema = z.object({
  account: z.string(),
  plan: z.string(),
  window: z.string(),
  started_at: z.string().nullable(),
  resets_at: z.string().nullable(),
  limit_usd: z.number(),
  used_usd: z.number(),
  entries: z.array(
    z.object({
      at: z.string(),
      request_id: z.string(),
      key_id: z.string().nullable(),
      model: z.string().nullable(),
      status: z.number(),
      reason: z.string().nullable(),
      billing: z.enum(["full", "none", "delivered"]),
      input_tokens: z.number(),
      output_tokens: z.number(),
      cost_usd: z.number(),
      charged_usd: z.number(),
      refunded_usd: z.number(),
    }),
  ),
});

/** A plan name; whether it exists is checked against the stored policies (knownPlan below). */
export const plan = z.string().min(1);
export const instant = z.iso.datetime({ offset: true });

export function policyTimeline(policies: PolicyBook, nowMs: number) {
  return policies.timeline(nowMs).map(({ policy, status }) => ({
    version: policy.version,
    effective_from: policy.effective_from,
    status,
    description: policy.description ?? null,
  }));
}

export const found = <T>(value: T | undefined | false, what: string): T => {
  if (value === undefined || value === false) throw notFound(`No ${what}.`);
  return value;
};
export const refused = (error: unknown): never => {
  throw new HeadroomError("conflict", (error as Error).message);
};

/** A plan neither built in nor in a stored policy is the request's mistake. */
export function requireKnownPlan(policies: PolicyBook, name: string | undefined): void {
  if (name === undefined) return;
  const known = policies.planNames();
  if (!known.includes(name))
    throw new HeadroomError("unknown_plan", `Unknown plan ${name}; known plans: ${known.join(", ")}.`, {
      param: "plan",
    });
}
