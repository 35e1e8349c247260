/**
 * The store of dated policies, their drafts and the audit log of every change: the domain's
 * contract, which the SQLite and PostgreSQL engines implement (stores/sqlite-policies.ts,
 * stores/postgres.ts).
 */
import type { Policy } from "./schema.ts";

/** Who changed policies, and from where: recorded with every change. */
export interface PolicyActor {
  /** "cli", "admin-api", … */
  actor?: string;
  /** What the change came from (a plan run's directory, a file). */
  source?: string;
}

export interface PolicyStore {
  /**
   * Stores every policy given, or none of them; a version already stored is refused unless
   * `replace`. Each is recorded in the audit log in the same transaction.
   */
  applyAll(
    policies: readonly Policy[],
    options?: { replace?: boolean; now?: Date } & PolicyActor,
  ): Promise<void>;
  /** Every stored policy, earliest effective first. */
  list(): Promise<Policy[]>;
  remove(version: string, options?: { now?: Date } & PolicyActor): Promise<boolean>;
  /** Changes whenever the stored policies may have changed (from any process). */
  dataVersion(): Promise<string>;
  /**
   * Stores a policy as a draft: it takes no effect until approved. Refused when the version is
   * already stored or drafted.
   */
  propose(
    policy: Policy,
    options: { id: string; now?: Date; notes?: string } & PolicyActor,
  ): Promise<PolicyDraft>;
  /** Drafts, newest first (decided ones too). */
  drafts(): Promise<PolicyDraft[]>;
  /**
   * Approves a draft (its policy is stored, in force from its date) or rejects it, in one
   * transaction with its audit entry; refused unless it is still a draft.
   */
  decide(
    id: string,
    decision: "approve" | "reject",
    options?: { now?: Date } & PolicyActor,
  ): Promise<PolicyDraft>;
  /** Every recorded change, oldest first. */
  auditLog(): Promise<PolicyAuditEntry[]>;
}

export interface PolicyDraft {
  id: string;
  policy: Policy;
  status: "draft" | "approved" | "rejected";
  proposedAt: string;
  proposedBy: string;
  source: string | null;
  /** Free text kept with the draft (the plan's margins, say). */
  notes: string | null;
  decidedAt: string | null;
  decidedBy: string | null;
}

export interface PolicyAuditEntry {
  at: string;
  actor: string;
  action: "apply" | "replace" | "remove" | "propose" | "approve" | "reject";
  version: string;
  draftId: string | null;
  source: string | null;
}

export class PolicyReviewError extends Error {
  override name = "PolicyReviewError";
}
