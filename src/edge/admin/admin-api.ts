/**
 * The admin API under /admin/v1 (DESIGN.md): organisations, teams, accounts and keys; dated
 * policies; usage from the ledger; live state. Only the admin token opens it (401 without a
 * token or with a wrong one, 403 for a customer key); inputs are validated by the zod schemas
 * that also make the OpenAPI 3.1 document at /admin/v1/openapi.json.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import type { AccountStore } from "../../accounts/account-store.ts";
import { loadCalibratedCatalog } from "../../capacity/calibration.ts";
import { gpusOnlineAt, orbitalPeriodS } from "../../capacity/orbit.ts";
import {
  capacityAt,
  changeDates,
  orbitalSystem,
  poolsOnline,
  readFleetFile,
} from "../../capacity/timeline.ts";
import { HeadroomError, invalidRequest, notFound } from "../../common/errors.ts";
import { explainWindow } from "../../enforcement/explain-window.ts";
import type { UsageEvent } from "../../ledger/usage-event.ts";
import { GROUPINGS, type Grouping, pricer, summarize } from "../../ledger/usage-report.ts";
import { levelLimitsSchema } from "../../plans/level-limits.ts";
import type { PolicyBook } from "../../plans/policy-book.ts";
import { diffPolicies } from "../../plans/policy-diff.ts";
import type { PolicyStore } from "../../plans/policy-store.ts";
import { policySchema } from "../../plans/schema.ts";
import { DeploymentBalancer } from "../../upstreams/deployments.ts";
import { presentedKey } from "../auth.ts";
import { familyLoad } from "../family-load.ts";
import type { EdgeServices } from "../services.ts";
import type { AdminToken } from "./admin-token.ts";
import { writeLedgerScenario } from "./ledger-scenario.ts";
import { PlanRunner } from "./plan-runner.ts";
import { policyReviewRoutes } from "./policy-review-routes.ts";
import { type AdminRoute, openApiDocument, registerAdminRoutes, route } from "./routes.ts";

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

const name = z.string().min(1).max(200);
const limits = levelLimitsSchema;
const level = z.object({
  name: z.string(),
  organisation: z.string().optional(),
  limits,
  created_at: z.string(),
});
const list = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item) });
const key = z.object({
  id: z.string(),
  account: z.string(),
  plan: z.string(),
  prefix: z.string(),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
const explanationSchema = z.object({
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
const plan = z.string().min(1);
const instant = z.iso.datetime({ offset: true });

function policyTimeline(policies: PolicyBook, nowMs: number) {
  return policies.timeline(nowMs).map(({ policy, status }) => ({
    version: policy.version,
    effective_from: policy.effective_from,
    status,
    description: policy.description ?? null,
  }));
}

function routes(services: AdminServices): AdminRoute[] {
  const { accounts } = services;
  // One per gateway: at most one plan runs at a time, from the scenarios folder only.
  const planner = new PlanRunner(services.config.planner.scenarios_dir, services.clock);
  const found = <T>(value: T | undefined | false, what: string): T => {
    if (value === undefined || value === false) throw notFound(`No ${what}.`);
    return value;
  };
  const refused = (error: unknown): never => {
    throw new HeadroomError("conflict", (error as Error).message);
  };
  return [
    ...policyReviewRoutes(services),
    route({
      method: "GET",
      path: "/organisations",
      summary: "List organisations",
      tag: "organisations",
      response: list(level),
      handler: async () => ({ data: await accounts.listOrganisations() }),
    }),
    route({
      method: "POST",
      path: "/organisations",
      summary: "Create an organisation",
      tag: "organisations",
      body: z.object({ name, limits: limits.default({}) }),
      response: z.object({ name: z.string(), limits }),
      status: 201,
      handler: async ({ body }) => {
        await accounts.createOrganisation(body.name, body.limits).catch(refused);
        return body;
      },
    }),
    route({
      method: "PATCH",
      path: "/organisations/{name}",
      summary: "Replace an organisation's limits",
      tag: "organisations",
      params: z.object({ name }),
      body: z.object({ limits }),
      response: z.object({ name: z.string(), limits }),
      handler: async ({ params, body }) => {
        found(
          (await accounts.setLimits("organisation", params.name, body.limits)) || undefined,
          `organisation ${params.name}`,
        );
        return { name: params.name, limits: body.limits };
      },
    }),
    route({
      method: "GET",
      path: "/teams",
      summary: "List teams",
      tag: "teams",
      query: z.object({ organisation: name.optional() }),
      response: list(level),
      handler: async ({ query }) => ({ data: await accounts.listTeams(query.organisation) }),
    }),
    route({
      method: "POST",
      path: "/teams",
      summary: "Create a team in an organisation",
      tag: "teams",
      body: z.object({ name, organisation: name, limits: limits.default({}) }),
      response: z.object({ name: z.string(), organisation: z.string(), limits }),
      status: 201,
      handler: async ({ body }) => {
        await accounts.createTeam(body.name, body.organisation, body.limits).catch(refused);
        return body;
      },
    }),
    route({
      method: "PATCH",
      path: "/teams/{name}",
      summary: "Replace a team's limits",
      tag: "teams",
      params: z.object({ name }),
      body: z.object({ limits }),
      response: z.object({ name: z.string(), limits }),
      handler: async ({ params, body }) => {
        found(
          (await accounts.setLimits("team", params.name, body.limits)) || undefined,
          `team ${params.name}`,
        );
        return { name: params.name, limits: body.limits };
      },
    }),
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
      path: "/policies",
      summary: "Dated policies: which is in force, which are scheduled",
      tag: "policies",
      response: z.object({
        in_force: z.string(),
        data: z.array(
          z.object({
            version: z.string(),
            effective_from: z.string(),
            status: z.enum(["in force", "scheduled", "superseded"]),
            description: z.string().nullable(),
          }),
        ),
      }),
      handler: async () => {
        await services.policies.refresh();
        const nowMs = services.clock();
        return {
          in_force: services.policies.inForce(nowMs).version,
          data: policyTimeline(services.policies, nowMs),
        };
      },
    }),
    route({
      method: "GET",
      path: "/policies/diff",
      summary:
        "What one policy changes against another (default: the next scheduled against the one in force)",
      tag: "policies",
      query: z.object({ from: name.optional(), to: name.optional() }),
      response: z.object({
        from: z.string(),
        /** Null when nothing is scheduled (and no `to` was asked for). */
        to: z.string().nullable(),
        changes: z.array(z.object({ path: z.string(), before: z.unknown(), after: z.unknown() })),
      }),
      handler: async ({ query }) => {
        await services.policies.refresh();
        const nowMs = services.clock();
        const timeline = services.policies.timeline(nowMs);
        const byVersion = (version: string) =>
          found(timeline.find((entry) => entry.policy.version === version)?.policy, `policy ${version}`);
        const from = query.from ? byVersion(query.from) : services.policies.inForce(nowMs);
        const to = query.to
          ? byVersion(query.to)
          : timeline.find((entry) => entry.status === "scheduled")?.policy;
        if (!to) return { from: from.version, to: null, changes: [] };
        return { from: from.version, to: to.version, changes: diffPolicies(from, to) };
      },
    }),
    route({
      method: "POST",
      path: "/policies",
      summary: "Schedule a new dated policy (a version is never overwritten here)",
      tag: "policies",
      body: policySchema,
      response: z.object({ version: z.string(), effective_from: z.string(), status: z.string() }),
      status: 201,
      handler: async ({ body }) => {
        await services.policyStore.applyAll([body], { actor: "admin-api" }).catch(refused);
        await services.policies.refresh();
        const entry = policyTimeline(services.policies, services.clock()).find(
          (candidate) => candidate.version === body.version,
        );
        return {
          version: body.version,
          effective_from: body.effective_from,
          status: entry?.status ?? "scheduled",
        };
      },
    }),
    route({
      method: "GET",
      path: "/usage",
      summary: "Usage and cost from the ledger, grouped",
      tag: "usage",
      query: z.object({
        by: z
          .string()
          .default("account,model")
          .refine(
            (value) => value.split(",").every((part) => (GROUPINGS as readonly string[]).includes(part)),
            `a comma-separated list of ${GROUPINGS.join(", ")}`,
          ),
        account: name.optional(),
        since: instant.optional(),
        until: instant.optional(),
      }),
      response: list(z.record(z.string(), z.union([z.string(), z.number()]))),
      handler: async ({ query }) => {
        const sinceMs = query.since ? Date.parse(query.since) : 0;
        const untilMs = query.until ? Date.parse(query.until) : Number.POSITIVE_INFINITY;
        const price = pricer(
          (ms) => services.policies.inForce(ms),
          (model) => services.router.resolve(model)?.entry.family,
        );
        const ledger = services.ledger;
        const events = async function* (): AsyncIterable<UsageEvent> {
          for await (const event of ledger.replay(sinceMs, { account: query.account })) {
            if (event.at_ms >= untilMs) return;
            yield event;
          }
        };
        const rows = await summarize(events(), query.by.split(",") as Grouping[], price);
        return { data: rows as unknown as Array<Record<string, string | number>> };
      },
    }),
    route({
      method: "GET",
      path: "/usage/explain",
      summary: "The ledger entries behind one of a key's account's windows: charges, refunds and reasons",
      tag: "usage",
      query: z.object({ key: name, window: z.string().min(1).default("5h") }),
      response: explanationSchema,
      handler: async ({ query }) => {
        const identity = found(await accounts.identityOfKey(query.key), `key ${query.key}`);
        return explainWindow(
          {
            ledger: services.ledger,
            enforcer: services.enforcer,
            familyOf: (model) => services.router.resolve(model)?.entry.family,
          },
          identity,
          query.window,
          services.clock(),
        );
      },
    }),
    route({
      method: "GET",
      path: "/fleet",
      summary:
        "The fleet behind the capacity: pools online now, capacity at every change, an orbital site's GPUs over one orbit",
      tag: "fleet",
      response: z.object({
        file: z.string(),
        at: z.string(),
        pools: z.array(
          z.object({
            site: z.string(),
            gpu: z.string(),
            installed: z.number(),
            online: z.number(),
            deal: z.string().nullable(),
          }),
        ),
        timeline: z.array(z.object({ at: z.string(), tokens_per_second: z.record(z.string(), z.number()) })),
        orbits: z.array(
          z.object({
            site: z.string(),
            period_s: z.number(),
            samples: z.array(z.object({ minute: z.number(), gpus_online: z.number() })),
          }),
        ),
      }),
      handler: async () => {
        const file = services.config.capacity?.fleet;
        if (!file) throw notFound("No fleet is configured: set capacity.fleet in the gateway's config file.");
        const catalog = loadCalibratedCatalog();
        const fleet = readFleetFile(file, catalog);
        const nowMs = services.clock();
        const dates = changeDates(fleet);
        const instants = [dates.length > 0 ? (dates[0] as number) - 86_400_000 : nowMs, ...dates];
        return {
          file,
          at: new Date(nowMs).toISOString(),
          pools: poolsOnline(fleet, catalog, nowMs).map((pool) => ({ ...pool, deal: pool.deal ?? null })),
          timeline: instants.map((at) => ({
            at: new Date(at).toISOString(),
            tokens_per_second: capacityAt(fleet, catalog, at).tokensPerSecond,
          })),
          orbits: fleet.sites.flatMap((site) => {
            if (site.kind !== "orbital") return [];
            // The site as built out (its last pool in orbit), or as it is now if that is later.
            const builtAt = Math.max(nowMs, dates.at(-1) ?? nowMs);
            const system = orbitalSystem(site, builtAt);
            const period = orbitalPeriodS(site.altitude_km);
            const samples = Array.from({ length: 121 }, (_, i) => ({
              minute: Math.round(((i / 120) * period) / 6) / 10,
              gpus_online: gpusOnlineAt(system, (i / 120) * 2 * Math.PI),
            }));
            return [{ site: site.id, at: new Date(builtAt).toISOString(), period_s: period, samples }];
          }),
        };
      },
    }),
    route({
      method: "POST",
      path: "/plans",
      summary:
        "Run the capacity planner on a scenario file, or on the demand this gateway's ledger measured (in a child process; tens of seconds)",
      tag: "planner",
      body: z
        .object({
          scenario: z
            .string()
            .min(1)
            .max(1_000)
            .optional()
            .describe("a scenario file's name inside planner.scenarios_dir"),
          from_ledger: z
            .object({ days: z.number().int().min(1).max(90).default(7) })
            .strict()
            .optional()
            .describe("plan from the demand this gateway's ledger measured over the last days"),
        })
        .strict()
        .refine((body) => (body.scenario === undefined) !== (body.from_ledger === undefined), {
          message: "give either scenario (a file of the scenarios folder) or from_ledger ({ days })",
        }),
      response: z.object({
        plan: z.record(z.string(), z.unknown()),
        charts: z.object({ week_before: z.string(), week_after: z.string(), tornado: z.string() }),
        /** The plan's policy and figures: POST them to /policies/drafts to propose it. */
        proposal: z.object({ policy: policySchema, notes: z.string(), source: z.string() }),
        seconds: z.number(),
      }),
      handler: async ({ body }) => {
        if (body.scenario !== undefined) return planner.run(body.scenario);
        const days = body.from_ledger?.days ?? 7;
        return planner.runWritten(`this gateway's ledger, last ${days} day(s)`, async (dir) => {
          await services.ledger.flush();
          const keys = new Map((await accounts.listKeys()).map((key) => [key.id, key.plan]));
          const nowMs = services.clock();
          const written = await writeLedgerScenario(
            {
              replay: (sinceMs) => services.ledger.replay(sinceMs),
              planOfKey: (id) => keys.get(id),
              familyOf: (model) => services.router.resolve(model)?.entry.family,
              policy: services.policies.inForce(nowMs),
              fleet: services.config.capacity?.fleet,
              nowMs,
            },
            days,
            dir,
          );
          return written.file;
        });
      },
    }),
    route({
      method: "GET",
      path: "/plans/scenarios",
      summary: "The scenario files the planner may run (its scenarios folder, planner.scenarios_dir)",
      tag: "planner",
      response: list(z.object({ name: z.string() })),
      handler: async () => ({ data: planner.scenarios().map((name) => ({ name })) }),
    }),
    route({
      method: "GET",
      path: "/overview",
      summary: "One snapshot for the dashboard: demand against capacity per family, traffic so far, latency",
      tag: "live",
      response: z.object({
        at: z.number(),
        families: z.array(
          z.object({
            family: z.string(),
            demand_tokens_per_second: z.number(),
            capacity_tokens_per_second: z.number().nullable(),
          }),
        ),
        requests: z.object({ total: z.number(), rate_limited: z.number(), overloaded: z.number() }),
        latency_ms: z.object({ p50: z.number().nullable(), p99: z.number().nullable() }),
      }),
      handler: async () => {
        const requests = (await services.metrics.requests.get()).values;
        const count = (status?: string) =>
          requests
            .filter((value) => status === undefined || String(value.labels.status) === status)
            .reduce((sum, value) => sum + value.value, 0);
        return {
          at: services.clock(),
          families: familyLoad(services).map((load) => ({
            family: load.family,
            demand_tokens_per_second: load.demandTokensPerSecond,
            capacity_tokens_per_second: load.capacityTokensPerSecond ?? null,
          })),
          requests: { total: count(), rate_limited: count("429"), overloaded: count("529") },
          latency_ms: await latencyQuantiles(services),
        };
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
          let windows: Array<{ name: string; used: number; limit: number; resets_at: string }> = [];
          if (identity) {
            // Windows and budgets (not per-minute rates): what the account has used of them.
            const { limits, decision } = await services.enforcer.peek(identity, "sonnet").catch(() => ({
              limits: undefined,
              decision: undefined,
            }));
            windows = (decision?.dimensions ?? [])
              .filter((_, index) => limits?.dimensions[index]?.kind === "window")
              .map((dimension) => ({
                name: dimension.name,
                used: dimension.limit - dimension.remaining,
                limit: dimension.limit,
                resets_at: new Date(dimension.resetAtMs).toISOString(),
              }));
          }
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
    route({
      method: "GET",
      path: "/live",
      summary: "Live state: requests in flight, admission per upstream, deployments, limiter and ledger",
      tag: "live",
      response: z.object({
        in_flight: z.number(),
        limiter: z.string(),
        /** Deciding on the store, or without it while it does not answer (limiter.on_store_failure). */
        limiter_state: z.enum(["up", "failing open", "failing closed"]),
        ledger: z.object({ pending: z.number(), saturated: z.boolean(), unavailable: z.string().nullable() }),
        upstreams: z.array(
          z.object({
            name: z.string(),
            in_flight: z.number(),
            effective_capacity: z.number(),
            shed: z.number(),
          }),
        ),
        deployments: z.array(
          z.object({
            model: z.string(),
            deployment: z.string(),
            state: z.string(),
            in_flight: z.number(),
            free: z.number().nullable(),
            first_byte_ms: z.number().nullable(),
          }),
        ),
      }),
      handler: async () => ({
        in_flight: services.inFlight.size,
        limiter: services.limiterKind,
        limiter_state:
          services.limiterStore === undefined || services.limiterStore.isUp
            ? ("up" as const)
            : services.config.limiter.on_store_failure === "open"
              ? ("failing open" as const)
              : ("failing closed" as const),
        ledger: {
          pending: services.ledger.pending,
          saturated: services.ledger.saturated,
          unavailable: services.ledger.unavailable ?? null,
        },
        upstreams: [...services.admission].map(([upstream, controller]) => {
          const stats = controller.stats(0);
          return {
            name: upstream,
            in_flight: stats.inFlight,
            effective_capacity: stats.effectiveCapacity,
            shed: stats.shed,
          };
        }),
        deployments: [...services.upstreams.values()]
          .filter((upstream): upstream is DeploymentBalancer => upstream instanceof DeploymentBalancer)
          .flatMap((balancer) =>
            balancer.health().map((health) => ({
              model: balancer.model,
              deployment: health.deployment,
              state: health.state,
              in_flight: health.inFlight,
              free: health.free ?? null,
              first_byte_ms: health.latencyMs ?? null,
            })),
          ),
      }),
    }),
  ];
}

/** p50 and p99 of request duration from the histogram's buckets (each the bucket's upper bound). */
async function latencyQuantiles(
  services: AdminServices,
): Promise<{ p50: number | null; p99: number | null }> {
  const buckets = new Map<number, number>();
  for (const value of (await services.metrics.duration.get()).values) {
    if (!value.metricName?.endsWith("_bucket")) continue;
    const bound = Number((value.labels as Record<string, string | number>).le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + value.value);
  }
  const ordered = [...buckets].sort(([a], [b]) => a - b);
  const total = ordered.at(-1)?.[1] ?? 0;
  const quantile = (q: number) => {
    if (total === 0) return null;
    const found = ordered.find(([, cumulative]) => cumulative >= q * total);
    return found && Number.isFinite(found[0]) ? found[0] * 1000 : null;
  };
  return { p50: quantile(0.5), p99: quantile(0.99) };
}

/** A plan neither built in nor in a stored policy is the request's mistake. */
function requireKnownPlan(policies: PolicyBook, name: string | undefined): void {
  if (name === undefined) return;
  const known = policies.planNames();
  if (!known.includes(name))
    throw new HeadroomError("unknown_plan", `Unknown plan ${name}; known plans: ${known.join(", ")}.`, {
      param: "plan",
    });
}

/** Only the admin token passes; a customer key is recognised and told it is the wrong kind. */
function authorizer(services: AdminServices) {
  return async (request: FastifyRequest): Promise<void> => {
    const authorization = request.headers.authorization;
    const presented =
      typeof authorization === "string" ? /^Bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim() : undefined;
    if (!presented) {
      throw new HeadroomError(
        "admin_token_required",
        "The admin API needs the admin token as Authorization: Bearer.",
      );
    }
    if (services.adminToken.accepts(presented)) return;
    const customer = presentedKey(request.headers);
    const identity = customer ? await services.identities.authenticate(customer) : undefined;
    if (identity)
      throw new HeadroomError("customer_key_on_admin", "A customer API key cannot use the admin API.");
    throw new HeadroomError("admin_token_required", "Invalid admin token.");
  };
}

export function registerAdminApi(app: FastifyInstance, services: AdminServices, version: string): void {
  const all = routes(services);
  registerAdminRoutes(app, ADMIN_PREFIX, all, authorizer(services));
  const document = openApiDocument(ADMIN_PREFIX, all, version);
  // The document itself is public: it describes the API, it opens nothing.
  app.get(`${ADMIN_PREFIX}/openapi.json`, async () => document);
}
