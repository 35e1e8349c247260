/** The admin API's dated policies: the timeline, what a new one changes, storing one (one file per resource; admin-api.ts composes them). */
import { z } from "zod";
import { diffPolicies } from "../../plans/policy-diff.ts";
import { policySchema } from "../../plans/schema.ts";
import { type AdminServices, found, name, policyTimeline, refused } from "./admin-shared.ts";
import { type AdminRoute, route } from "./routes.ts";

export function policyRoutes(services: AdminServices): AdminRoute[] {
  return [
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
  ];
}
