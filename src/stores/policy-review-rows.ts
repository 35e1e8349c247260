/** Rows of the policy-review tables as values, the same on both engines. */

import { type PolicyAuditEntry, type PolicyDraft, PolicyReviewError } from "../plans/policy-store.ts";
import { policySchema } from "../plans/schema.ts";

export interface DraftRow {
  id: string;
  body: string;
  status: string;
  proposed_at: string;
  proposed_by: string;
  source: string | null;
  notes: string | null;
  decided_at: string | null;
  decided_by: string | null;
}

export interface AuditRow {
  at: string;
  actor: string;
  action: string;
  version: string;
  draft_id: string | null;
  source: string | null;
}

export const draftOf = (row: DraftRow): PolicyDraft => ({
  id: row.id,
  policy: policySchema.parse(JSON.parse(row.body)),
  status: row.status as PolicyDraft["status"],
  proposedAt: row.proposed_at,
  proposedBy: row.proposed_by,
  source: row.source,
  notes: row.notes,
  decidedAt: row.decided_at,
  decidedBy: row.decided_by,
});

export const auditOf = (row: AuditRow): PolicyAuditEntry => ({
  at: row.at,
  actor: row.actor,
  action: row.action as PolicyAuditEntry["action"],
  version: row.version,
  draftId: row.draft_id,
  source: row.source,
});

export const noSuchDraft = (id: string) =>
  new PolicyReviewError(`no policy draft ${id}; \`headroom policy drafts\` lists them`);

export const alreadyDecided = (draft: DraftRow) =>
  new PolicyReviewError(
    `policy draft ${draft.id} was already ${draft.status} (${draft.decided_at} by ${draft.decided_by})`,
  );

export const versionTaken = (version: string, where: "stored" | "drafted") =>
  new PolicyReviewError(
    where === "stored"
      ? `policy ${version} is already stored; propose it under another version`
      : `policy ${version} is already drafted; approve or reject that draft first`,
  );

export const DEFAULT_ACTOR = "unknown";
