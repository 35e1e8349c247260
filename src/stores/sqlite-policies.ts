/** Dated policies in SQLite. Stored as validated JSON; the policy book decides which is in force. */

import type { PolicyActor, PolicyAuditEntry, PolicyDraft, PolicyStore } from "../plans/policy-store.ts";
import { type Policy, policySchema } from "../plans/schema.ts";
import {
  type AuditRow,
  alreadyDecided,
  auditOf,
  DEFAULT_ACTOR,
  type DraftRow,
  draftOf,
  noSuchDraft,
  versionTaken,
} from "./policy-review-rows.ts";
import type { SqliteDatabase } from "./sqlite.ts";
import { policyAlreadyStored, type SettingsStore } from "./store.ts";

export class SqlitePolicyStore implements PolicyStore {
  constructor(private readonly db: SqliteDatabase) {}

  private apply(
    policy: Policy,
    options: {
      replace?: boolean;
      now?: Date;
      draftId?: string;
      action?: PolicyAuditEntry["action"];
    } & PolicyActor,
  ): void {
    const exists = this.db.prepare("select 1 from policies where version = ?").get(policy.version);
    if (exists && !options.replace) throw policyAlreadyStored(policy.version);
    this.audit(options.action ?? (exists ? "replace" : "apply"), policy.version, options);
    this.db
      .prepare(
        `insert into policies (version, effective_from_ms, body, applied_at) values (?, ?, ?, ?)
         on conflict(version) do update set effective_from_ms = excluded.effective_from_ms, body = excluded.body, applied_at = excluded.applied_at`,
      )
      .run(
        policy.version,
        Date.parse(policy.effective_from),
        JSON.stringify(policy),
        (options.now ?? new Date()).toISOString(),
      );
  }

  private audit(
    action: PolicyAuditEntry["action"],
    version: string,
    options: { now?: Date; draftId?: string } & PolicyActor,
  ): void {
    this.db
      .prepare(
        "insert into policy_audit (at, actor, action, version, draft_id, source) values (?, ?, ?, ?, ?, ?)",
      )
      .run(
        (options.now ?? new Date()).toISOString(),
        options.actor ?? DEFAULT_ACTOR,
        action,
        version,
        options.draftId ?? null,
        options.source ?? null,
      );
  }

  async applyAll(
    policies: readonly Policy[],
    options: { replace?: boolean; now?: Date } & PolicyActor = {},
  ): Promise<void> {
    this.db.transaction(() => {
      for (const policy of policies) this.apply(policy, options);
    })();
  }

  async list(): Promise<Policy[]> {
    return this.db
      .prepare<[], { body: string }>("select body from policies order by effective_from_ms, version")
      .all()
      .map((row) => policySchema.parse(JSON.parse(row.body)));
  }

  async remove(version: string, options: { now?: Date } & PolicyActor = {}): Promise<boolean> {
    return this.db.transaction(() => {
      const removed = this.db.prepare("delete from policies where version = ?").run(version).changes > 0;
      if (removed) this.audit("remove", version, options);
      return removed;
    })();
  }

  async propose(
    policy: Policy,
    options: { id: string; now?: Date; notes?: string } & PolicyActor,
  ): Promise<PolicyDraft> {
    const at = (options.now ?? new Date()).toISOString();
    this.db.transaction(() => {
      if (this.db.prepare("select 1 from policies where version = ?").get(policy.version))
        throw versionTaken(policy.version, "stored");
      if (
        this.db
          .prepare("select 1 from policy_drafts where version = ? and status = 'draft'")
          .get(policy.version)
      )
        throw versionTaken(policy.version, "drafted");
      // A rejected draft's version may be proposed again: it frees the version.
      this.db
        .prepare("delete from policy_drafts where version = ? and status = 'rejected'")
        .run(policy.version);
      this.db
        .prepare(
          `insert into policy_drafts (id, version, body, status, proposed_at, proposed_by, source, notes)
           values (?, ?, ?, 'draft', ?, ?, ?, ?)`,
        )
        .run(
          options.id,
          policy.version,
          JSON.stringify(policy),
          at,
          options.actor ?? DEFAULT_ACTOR,
          options.source ?? null,
          options.notes ?? null,
        );
      this.audit("propose", policy.version, { ...options, draftId: options.id });
    })();
    return this.draft(options.id);
  }

  private draft(id: string): PolicyDraft {
    const row = this.db.prepare<[string], DraftRow>("select * from policy_drafts where id = ?").get(id);
    if (!row) throw noSuchDraft(id);
    return draftOf(row);
  }

  async drafts(): Promise<PolicyDraft[]> {
    return this.db
      .prepare<[], DraftRow>("select * from policy_drafts order by proposed_at desc, id desc")
      .all()
      .map(draftOf);
  }

  async decide(
    id: string,
    decision: "approve" | "reject",
    options: { now?: Date } & PolicyActor = {},
  ): Promise<PolicyDraft> {
    const at = (options.now ?? new Date()).toISOString();
    const actor = options.actor ?? DEFAULT_ACTOR;
    this.db.transaction(() => {
      const row = this.db.prepare<[string], DraftRow>("select * from policy_drafts where id = ?").get(id);
      if (!row) throw noSuchDraft(id);
      if (row.status !== "draft") throw alreadyDecided(row);
      const draft = draftOf(row);
      if (decision === "approve")
        this.apply(draft.policy, {
          now: options.now,
          actor,
          source: row.source ?? undefined,
          draftId: id,
          action: "approve",
        });
      else
        this.audit("reject", draft.policy.version, {
          now: options.now,
          actor,
          source: row.source ?? undefined,
          draftId: id,
        });
      this.db
        .prepare("update policy_drafts set status = ?, decided_at = ?, decided_by = ? where id = ?")
        .run(decision === "approve" ? "approved" : "rejected", at, actor, id);
    })();
    return this.draft(id);
  }

  async auditLog(): Promise<PolicyAuditEntry[]> {
    return this.db.prepare<[], AuditRow>("select * from policy_audit order by seq").all().map(auditOf);
  }

  /** SQLite's data_version changes whenever another connection commits: a cheap way to notice `policy apply`. */
  async dataVersion(): Promise<string> {
    const commits = this.db.pragma("data_version", { simple: true }) as number;
    const own = this.db
      .prepare<[], { n: number; at: string | null }>(
        "select count(*) as n, max(applied_at) as at from policies",
      )
      .get();
    return `${commits}:${own?.n}:${own?.at}`;
  }
}

/** Named settings in SQLite. */
export class SqliteSettingsStore implements SettingsStore {
  constructor(private readonly db: SqliteDatabase) {}

  async get(name: string): Promise<string | undefined> {
    return this.db.prepare<[string], { value: string }>("select value from settings where name = ?").get(name)
      ?.value;
  }

  async setIfAbsent(name: string, value: string): Promise<boolean> {
    return (
      this.db
        .prepare("insert into settings (name, value) values (?, ?) on conflict (name) do nothing")
        .run(name, value).changes > 0
    );
  }

  async set(name: string, value: string): Promise<void> {
    this.db
      .prepare(
        "insert into settings (name, value) values (?, ?) on conflict (name) do update set value = excluded.value",
      )
      .run(name, value);
  }
}
