/**
 * The admin API's policy review: drafts proposed from plan runs, their changes against the
 * policy in force at their date (with the plan's margins), approval or rejection, and the audit
 * log of every policy change. Admin token only, as every admin route.
 */
import { z } from "zod";
import { HeadroomError } from "../../common/errors.ts";
import { randomId } from "../../common/ids.ts";
import { reviewChanges } from "../../planner/plan-margins.ts";
import type { PolicyBook } from "../../plans/policy-book.ts";
import { type PolicyDraft, PolicyReviewError, type PolicyStore } from "../../plans/policy-store.ts";
import { policySchema } from "../../plans/schema.ts";
import { type AdminRoute, route } from "./routes.ts";

const ACTOR = "admin-api";

const draftSchema = z.object({
  id: z.string(),
  version: z.string(),
  effective_from: z.string(),
  status: z.enum(["draft", "approved", "rejected"]),
  proposed_at: z.string(),
  proposed_by: z.string(),
  source: z.string().nullable(),
  decided_at: z.string().nullable(),
  decided_by: z.string().nullable(),
});

const draftJson = (draft: PolicyDraft) => ({
  id: draft.id,
  version: draft.policy.version,
  effective_from: draft.policy.effective_from,
  status: draft.status,
  proposed_at: draft.proposedAt,
  proposed_by: draft.proposedBy,
  source: draft.source,
  decided_at: draft.decidedAt,
  decided_by: draft.decidedBy,
});

const id = z.object({ id: z.string().min(1).max(100) });

export function policyReviewRoutes(services: {
  policyStore: PolicyStore;
  policies: PolicyBook;
}): AdminRoute[] {
  const { policyStore: store } = services;
  /** A review step the state refuses (decided already, version taken): 409 with its reason. */
  const reviewed = <T>(work: Promise<T>): Promise<T> =>
    work.catch((error: unknown) => {
      if (error instanceof PolicyReviewError) {
        const missing = error.message.startsWith("no policy draft");
        throw new HeadroomError(missing ? "not_found" : "conflict", error.message);
      }
      throw error;
    });
  const draftById = async (draftId: string) => {
    const draft = (await store.drafts()).find((candidate) => candidate.id === draftId);
    if (!draft) throw new HeadroomError("not_found", `No policy draft ${draftId}.`);
    return draft;
  };
  return [
    route({
      method: "GET",
      path: "/policies/drafts",
      summary: "Proposed policies, newest first, and what became of them",
      tag: "policies",
      response: z.object({ data: z.array(draftSchema) }),
      handler: async () => ({ data: (await store.drafts()).map(draftJson) }),
    }),
    route({
      method: "POST",
      path: "/policies/drafts",
      summary: "Propose a policy: stored as a draft, it takes no effect until approved",
      tag: "policies",
      body: z.object({
        policy: policySchema,
        /** What it came from (a plan run). */
        source: z.string().max(500).optional(),
        /** The plan's figures (plan-margins.ts), kept for the reviewer. */
        notes: z.string().max(20_000).optional(),
      }),
      response: draftSchema,
      status: 201,
      handler: async ({ body }) =>
        draftJson(
          await reviewed(
            store.propose(body.policy, {
              id: `draft_${randomId(12)}`,
              actor: ACTOR,
              ...(body.source ? { source: body.source } : {}),
              ...(body.notes ? { notes: body.notes } : {}),
            }),
          ),
        ),
    }),
    route({
      method: "GET",
      path: "/policies/drafts/{id}/diff",
      summary: "A draft against the policy in force at its date, change by change, with the plan's margins",
      tag: "policies",
      params: id,
      response: z.object({
        draft: draftSchema,
        against: z.string(),
        changes: z.array(
          z.object({ path: z.string(), before: z.unknown(), after: z.unknown(), margin: z.string() }),
        ),
      }),
      handler: async ({ params }) => {
        const draft = await draftById(params.id);
        await services.policies.refresh();
        const inForce = services.policies.inForce(Date.parse(draft.policy.effective_from));
        return { draft: draftJson(draft), against: inForce.version, changes: reviewChanges(inForce, draft) };
      },
    }),
    ...(["approve", "reject"] as const).map((decision) =>
      route({
        method: "POST",
        path: `/policies/drafts/{id}/${decision}`,
        summary:
          decision === "approve"
            ? "Approve a draft: its policy is stored and takes effect at its date, with no restart"
            : "Reject a draft: nothing changes",
        tag: "policies",
        params: id,
        response: draftSchema,
        handler: async ({ params }) => {
          const draft = await reviewed(store.decide(params.id, decision, { actor: ACTOR }));
          await services.policies.refresh();
          return draftJson(draft);
        },
      }),
    ),
    route({
      method: "GET",
      path: "/policies/audit",
      summary: "Every policy change: who, when, what, from which plan run or draft",
      tag: "policies",
      response: z.object({
        data: z.array(
          z.object({
            at: z.string(),
            actor: z.string(),
            action: z.string(),
            version: z.string(),
            draft_id: z.string().nullable(),
            source: z.string().nullable(),
          }),
        ),
      }),
      handler: async () => ({
        data: (await store.auditLog()).map((entry) => ({
          at: entry.at,
          actor: entry.actor,
          action: entry.action,
          version: entry.version,
          draft_id: entry.draftId,
          source: entry.source,
        })),
      }),
    }),
  ];
}
