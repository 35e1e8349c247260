/** The admin API's accounts and their keys (one file per resource; admin-api.ts composes them). */

import { z } from "zod";
import type { KeyIdentity } from "../../accounts/account-store.ts";
import { invalidRequest, notFound } from "../../common/errors.ts";
import {
  type AdminServices,
  found,
  key,
  limits,
  list,
  name,
  plan,
  requireKnownPlan,
} from "./admin-shared.ts";
import { type AdminRoute, route } from "./routes.ts";

export function accountRoutes(services: AdminServices): AdminRoute[] {
  const { accounts } = services;
  return [
    route({
      method: "PATCH",
      path: "/accounts/{name}",
      summary: "Change an account's plan, usage-credit cap or team",
      tag: "accounts",
      params: z.object({ name }),
      body: z.object({
        plan: plan.optional(),
        credits_cap_usd: z.number().min(0).nullable().optional(),
        team: name.nullable().optional(),
      }),
      response: z.object({ account: z.string(), changed: z.array(z.string()) }),
      handler: async ({ params, body }) => {
        requireKnownPlan(services.policies, body.plan);
        found(
          (await accounts.updateAccount(params.name, {
            plan: body.plan,
            creditsCapUsd: body.credits_cap_usd,
          })) || undefined,
          `account ${params.name}`,
        );
        if (body.team !== undefined && !(await accounts.setAccountTeam(params.name, body.team)))
          throw notFound(`No team ${body.team}.`, "team");
        return { account: params.name, changed: Object.keys(body) };
      },
    }),
    route({
      method: "GET",
      path: "/keys",
      summary: "List keys (never the keys themselves)",
      tag: "keys",
      query: z.object({ account: name.optional() }),
      response: list(key),
      handler: async ({ query }) => ({ data: await accounts.listKeys(query.account) }),
    }),
    route({
      method: "POST",
      path: "/keys",
      summary: "Create a key; the secret is in this answer only",
      tag: "keys",
      body: z.object({ account: name, plan: plan.optional(), team: name.optional() }),
      response: z.object({ id: z.string(), key: z.string(), account: z.string(), plan: z.string() }),
      status: 201,
      handler: async ({ body }) => {
        requireKnownPlan(services.policies, body.plan);
        if (body.team && !(await accounts.listTeams()).some((team) => team.name === body.team))
          throw notFound(`No team ${body.team}.`, "team");
        const created = await accounts.createKey(body.account, body.plan).catch((error: unknown) => {
          throw invalidRequest((error as Error).message, "plan");
        });
        if (body.team) await accounts.setAccountTeam(body.account, body.team);
        return created;
      },
    }),
    route({
      method: "DELETE",
      path: "/keys/{id}",
      summary: "Revoke a key",
      tag: "keys",
      params: z.object({ id: name }),
      response: z.object({ id: z.string(), revoked: z.literal(true) }),
      handler: async ({ params }) => {
        found((await accounts.revokeKey(params.id)) || undefined, `active key ${params.id}`);
        return { id: params.id, revoked: true as const };
      },
    }),
    route({
      method: "PATCH",
      path: "/keys/{id}",
      summary: "Replace a key's own limits (narrower than its account's plan)",
      tag: "keys",
      params: z.object({ id: name }),
      body: z.object({ limits }),
      response: z.object({ id: z.string(), limits }),
      handler: async ({ params, body }) => {
        found((await accounts.setLimits("key", params.id, body.limits)) || undefined, `key ${params.id}`);
        return { id: params.id, limits: body.limits };
      },
    }),
    route({
      method: "GET",
      path: "/accounts",
      summary: "Accounts with their keys and how much of each window they have used",
      tag: "accounts",
      query: z.object({ search: z.string().optional() }),
      response: list(
        z.object({
          account: z.string(),
          plan: z.string(),
          team: z.string().nullable(),
          keys: z.array(z.object({ id: z.string(), prefix: z.string(), revoked: z.boolean() })),
          windows: z.array(
            z.object({ name: z.string(), used: z.number(), limit: z.number(), resets_at: z.string() }),
          ),
        }),
      ),
      handler: async ({ query }) => {
        const keys = await accounts.listKeys();
        const byAccount = new Map<string, typeof keys>();
        for (const entry of keys) {
          if (query.search && !entry.account.toLowerCase().includes(query.search.toLowerCase())) continue;
          byAccount.set(entry.account, [...(byAccount.get(entry.account) ?? []), entry]);
        }
        const data = [];
        for (const [account, owned] of byAccount) {
          const active = owned.find((entry) => entry.revoked_at === null) ?? owned[0];
          const identity = active && (await accounts.identityOfKey(active.id));
          const windows = identity ? await windowsOf(services, identity) : [];
          data.push({
            account,
            plan: identity?.plan ?? active?.plan ?? "",
            team: identity?.team ?? null,
            keys: owned.map((entry) => ({
              id: entry.id,
              prefix: entry.prefix,
              revoked: entry.revoked_at !== null,
            })),
            windows,
          });
        }
        return { data };
      },
    }),
  ];
}

/**
 * An account's windows and budgets (not per-minute rates) and what it has used of them, over
 * every model family the gateway serves: a window several families share is listed once, a
 * family's own window (an Opus weekly cap) too.
 */
async function windowsOf(
  services: AdminServices,
  identity: KeyIdentity,
): Promise<Array<{ name: string; used: number; limit: number; resets_at: string }>> {
  const byName = new Map<string, { name: string; used: number; limit: number; resets_at: string }>();
  for (const family of new Set(services.config.models.map((model) => model.family))) {
    const peeked = await services.enforcer.peek(identity, family).catch(() => undefined);
    if (!peeked) continue;
    peeked.decision.dimensions.forEach((dimension, index) => {
      if (peeked.limits.dimensions[index]?.kind !== "window" || byName.has(dimension.name)) return;
      byName.set(dimension.name, {
        name: dimension.name,
        used: dimension.limit - dimension.remaining,
        limit: dimension.limit,
        resets_at: new Date(dimension.resetAtMs).toISOString(),
      });
    });
  }
  return [...byName.values()];
}
