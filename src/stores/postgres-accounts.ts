/** Accounts, API keys and dated policies in PostgreSQL: the same contract as the SQLite stores. */
import type pg from "pg";
import type {
  AccountStore,
  CreatedKey,
  KeyIdentity,
  KeyListing,
  LevelListing,
} from "../accounts/account-store.ts";
import { displayPrefix, generateKey, type KeyHasher, newKeyId } from "../accounts/api-keys.ts";
import { type LevelLimits, parseLevelLimits } from "../plans/level-limits.ts";
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
import {
  IDENTITY_SELECT,
  type IdentityRow,
  identityFromRow,
  LEVEL_TABLES,
  policyAlreadyStored,
  type SettingsStore,
} from "./store.ts";

type StoredIdentity = IdentityRow & { revoked_at: string | null };

const identity = (row: IdentityRow): KeyIdentity => identityFromRow(row, parseLevelLimits);

/** Runs `work` in one transaction on one pooled connection. */
async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export class PostgresAccountStore implements AccountStore {
  constructor(
    private readonly pool: pg.Pool,
    private readonly hasher: KeyHasher,
  ) {}

  createKey(account: string, plan: string | undefined, now = new Date()): Promise<CreatedKey> {
    return inTransaction(this.pool, async (client) => {
      const find = async () =>
        (
          await client.query<{ plan: string }>("select plan from accounts where name = $1 for update", [
            account,
          ])
        ).rows[0];
      let existing = await find();
      if (!existing) {
        if (!plan) throw new Error(`Account "${account}" does not exist yet; give --plan to create it.`);
        const inserted = await client.query(
          "insert into accounts (name, plan, created_at) values ($1, $2, $3) on conflict (name) do nothing",
          [account, plan, now.toISOString()],
        );
        // Another process created it in the meantime: it is an existing account now.
        if (inserted.rowCount === 0) existing = await find();
      }
      const override = existing && plan && plan !== existing.plan ? plan : null;
      const key = generateKey();
      const id = newKeyId();
      await client.query(
        "insert into api_keys (id, account, hash, prefix, plan, created_at) values ($1, $2, $3, $4, $5, $6)",
        [id, account, this.hasher.hash(key), displayPrefix(key), override, now.toISOString()],
      );
      return { id, key, account, plan: override ?? existing?.plan ?? plan ?? "" };
    });
  }

  /** The key's row by its keyed hash; a row still under the legacy hash is rehashed on the way. */
  private async rowOf(key: string): Promise<StoredIdentity | undefined> {
    const hash = this.hasher.hash(key);
    const found = await this.pool.query<StoredIdentity>(`${IDENTITY_SELECT} where k.hash = $1`, [hash]);
    if (found.rows[0]) return found.rows[0];
    const legacy = this.hasher.legacyHash(key);
    const old = await this.pool.query<StoredIdentity>(`${IDENTITY_SELECT} where k.hash = $1`, [legacy]);
    if (old.rows[0]) await this.pool.query("update api_keys set hash = $1 where hash = $2", [hash, legacy]);
    return old.rows[0];
  }

  async hasKeyedHashes(): Promise<boolean> {
    const { rows } = await this.pool.query("select 1 from api_keys where hash like 'hmac-%' limit 1");
    return rows.length > 0;
  }

  async authenticate(key: string): Promise<KeyIdentity | undefined> {
    const row = await this.rowOf(key);
    return row && !row.revoked_at ? identity(row) : undefined;
  }

  async isRevoked(key: string): Promise<boolean> {
    return Boolean((await this.rowOf(key))?.revoked_at);
  }

  async identityOfKey(keyId: string): Promise<KeyIdentity | undefined> {
    const { rows } = await this.pool.query<StoredIdentity>(`${IDENTITY_SELECT} where k.id = $1`, [keyId]);
    return rows[0] && identity(rows[0]);
  }

  async listKeys(account?: string): Promise<KeyListing[]> {
    const { rows } = await this.pool.query<KeyListing>(
      `select k.id, k.account, coalesce(k.plan, a.plan) as plan, k.prefix, k.created_at, k.revoked_at
         from api_keys k join accounts a on a.name = k.account
        ${account ? "where k.account = $1" : ""}
        order by k.created_at, k.id`,
      account ? [account] : [],
    );
    return rows;
  }

  async updateAccount(
    account: string,
    changes: { plan?: string; creditsCapUsd?: number | null },
  ): Promise<boolean> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (changes.plan !== undefined) {
      params.push(changes.plan);
      sets.push(`plan = $${params.length}`);
    }
    if (changes.creditsCapUsd !== undefined) {
      params.push(changes.creditsCapUsd);
      sets.push(`credits_cap_usd = $${params.length}`);
    }
    params.push(account);
    const sql =
      sets.length === 0
        ? `select 1 from accounts where name = $${params.length}`
        : `update accounts set ${sets.join(", ")} where name = $${params.length}`;
    const result = await this.pool.query(sql, params);
    return (result.rowCount ?? 0) > 0;
  }

  async revokeKey(id: string, now = new Date()): Promise<boolean> {
    const result = await this.pool.query(
      "update api_keys set revoked_at = $1 where id = $2 and revoked_at is null",
      [now.toISOString(), id],
    );
    return (result.rowCount ?? 0) > 0;
  }

  async createOrganisation(name: string, limits: LevelLimits, now = new Date()): Promise<void> {
    const { rowCount } = await this.pool.query(
      "insert into organisations (name, limits, created_at) values ($1, $2, $3) on conflict (name) do nothing",
      [name, JSON.stringify(limits), now.toISOString()],
    );
    if (rowCount === 0) throw new Error(`Organisation "${name}" already exists.`);
  }

  async createTeam(name: string, organisation: string, limits: LevelLimits, now = new Date()): Promise<void> {
    const found = await this.pool.query("select 1 from organisations where name = $1", [organisation]);
    if (found.rowCount === 0) throw new Error(`Organisation "${organisation}" does not exist.`);
    const { rowCount } = await this.pool.query(
      "insert into teams (name, organisation, limits, created_at) values ($1, $2, $3, $4) on conflict (name) do nothing",
      [name, organisation, JSON.stringify(limits), now.toISOString()],
    );
    if (rowCount === 0) throw new Error(`Team "${name}" already exists.`);
  }

  async listOrganisations(): Promise<LevelListing[]> {
    const { rows } = await this.pool.query<{ name: string; limits: string; created_at: string }>(
      "select name, limits, created_at from organisations order by name",
    );
    return rows.map((row) => ({ ...row, limits: parseLevelLimits(row.limits) }));
  }

  async listTeams(organisation?: string): Promise<LevelListing[]> {
    const { rows } = await this.pool.query<{
      name: string;
      organisation: string;
      limits: string;
      created_at: string;
    }>(
      `select name, organisation, limits, created_at from teams ${organisation ? "where organisation = $1" : ""} order by name`,
      organisation ? [organisation] : [],
    );
    return rows.map((row) => ({ ...row, limits: parseLevelLimits(row.limits) }));
  }

  async setLimits(
    level: "organisation" | "team" | "key",
    name: string,
    limits: LevelLimits,
  ): Promise<boolean> {
    const { table, column } = LEVEL_TABLES[level];
    const { rowCount } = await this.pool.query(`update ${table} set limits = $1 where ${column} = $2`, [
      JSON.stringify(limits),
      name,
    ]);
    return (rowCount ?? 0) > 0;
  }

  async setAccountTeam(account: string, team: string | null): Promise<boolean> {
    if (team !== null) {
      const found = await this.pool.query("select 1 from teams where name = $1", [team]);
      if (found.rowCount === 0) return false;
    }
    const { rowCount } = await this.pool.query("update accounts set team = $1 where name = $2", [
      team,
      account,
    ]);
    return (rowCount ?? 0) > 0;
  }
}

export class PostgresPolicyStore implements PolicyStore {
  constructor(private readonly pool: pg.Pool) {}

  private async audit(
    client: pg.PoolClient,
    action: PolicyAuditEntry["action"],
    version: string,
    options: { now?: Date; draftId?: string } & PolicyActor,
  ): Promise<void> {
    await client.query(
      "insert into policy_audit (at, actor, action, version, draft_id, source) values ($1, $2, $3, $4, $5, $6)",
      [
        (options.now ?? new Date()).toISOString(),
        options.actor ?? DEFAULT_ACTOR,
        action,
        version,
        options.draftId ?? null,
        options.source ?? null,
      ],
    );
  }

  private async apply(
    client: pg.PoolClient,
    policy: Policy,
    options: {
      replace?: boolean;
      now?: Date;
      draftId?: string;
      action?: PolicyAuditEntry["action"];
    } & PolicyActor,
  ): Promise<void> {
    const { rows } = await client.query("select 1 from policies where version = $1", [policy.version]);
    if (rows.length > 0 && !options.replace) throw policyAlreadyStored(policy.version);
    await this.audit(
      client,
      options.action ?? (rows.length > 0 ? "replace" : "apply"),
      policy.version,
      options,
    );
    await client.query(
      `insert into policies (version, effective_from_ms, body, applied_at) values ($1, $2, $3, $4)
       on conflict (version) do update set effective_from_ms = excluded.effective_from_ms,
         body = excluded.body, applied_at = excluded.applied_at`,
      [
        policy.version,
        Date.parse(policy.effective_from),
        JSON.stringify(policy),
        (options.now ?? new Date()).toISOString(),
      ],
    );
  }

  applyAll(
    policies: readonly Policy[],
    options: { replace?: boolean; now?: Date } & PolicyActor = {},
  ): Promise<void> {
    return inTransaction(this.pool, async (client) => {
      for (const policy of policies) await this.apply(client, policy, options);
    });
  }

  async list(): Promise<Policy[]> {
    const { rows } = await this.pool.query<{ body: string }>(
      "select body from policies order by effective_from_ms, version",
    );
    return rows.map((row) => policySchema.parse(JSON.parse(row.body)));
  }

  remove(version: string, options: { now?: Date } & PolicyActor = {}): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const result = await client.query("delete from policies where version = $1", [version]);
      const removed = (result.rowCount ?? 0) > 0;
      if (removed) await this.audit(client, "remove", version, options);
      return removed;
    });
  }

  async propose(
    policy: Policy,
    options: { id: string; now?: Date; notes?: string } & PolicyActor,
  ): Promise<PolicyDraft> {
    await inTransaction(this.pool, async (client) => {
      // Two proposals of one version at once: the second waits here and then sees the first.
      await client.query("select pg_advisory_xact_lock(hashtext('headroom policy drafts'))");
      if ((await client.query("select 1 from policies where version = $1", [policy.version])).rows.length > 0)
        throw versionTaken(policy.version, "stored");
      const drafted = await client.query(
        "select 1 from policy_drafts where version = $1 and status = 'draft'",
        [policy.version],
      );
      if (drafted.rows.length > 0) throw versionTaken(policy.version, "drafted");
      await client.query("delete from policy_drafts where version = $1 and status = 'rejected'", [
        policy.version,
      ]);
      await client.query(
        `insert into policy_drafts (id, version, body, status, proposed_at, proposed_by, source, notes)
         values ($1, $2, $3, 'draft', $4, $5, $6, $7)`,
        [
          options.id,
          policy.version,
          JSON.stringify(policy),
          (options.now ?? new Date()).toISOString(),
          options.actor ?? DEFAULT_ACTOR,
          options.source ?? null,
          options.notes ?? null,
        ],
      );
      await this.audit(client, "propose", policy.version, { ...options, draftId: options.id });
    });
    return this.draft(options.id);
  }

  private async draft(id: string): Promise<PolicyDraft> {
    const { rows } = await this.pool.query<DraftRow>("select * from policy_drafts where id = $1", [id]);
    const row = rows[0];
    if (!row) throw noSuchDraft(id);
    return draftOf(row);
  }

  async drafts(): Promise<PolicyDraft[]> {
    const { rows } = await this.pool.query<DraftRow>(
      "select * from policy_drafts order by proposed_at desc, id desc",
    );
    return rows.map(draftOf);
  }

  async decide(
    id: string,
    decision: "approve" | "reject",
    options: { now?: Date } & PolicyActor = {},
  ): Promise<PolicyDraft> {
    const actor = options.actor ?? DEFAULT_ACTOR;
    await inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<DraftRow>("select * from policy_drafts where id = $1 for update", [
        id,
      ]);
      const row = rows[0];
      if (!row) throw noSuchDraft(id);
      if (row.status !== "draft") throw alreadyDecided(row);
      const draft = draftOf(row);
      const context = { now: options.now, actor, source: row.source ?? undefined, draftId: id };
      if (decision === "approve") await this.apply(client, draft.policy, { ...context, action: "approve" });
      else await this.audit(client, "reject", draft.policy.version, context);
      await client.query(
        "update policy_drafts set status = $1, decided_at = $2, decided_by = $3 where id = $4",
        [
          decision === "approve" ? "approved" : "rejected",
          (options.now ?? new Date()).toISOString(),
          actor,
          id,
        ],
      );
    });
    return this.draft(id);
  }

  async auditLog(): Promise<PolicyAuditEntry[]> {
    const { rows } = await this.pool.query<AuditRow>("select * from policy_audit order by seq");
    return rows.map(auditOf);
  }

  /** What changes when any process applies, replaces or removes a policy. */
  async dataVersion(): Promise<string> {
    const { rows } = await this.pool.query<{ version: string }>(
      `select count(*) || ':' || coalesce(max(applied_at), '') || ':' || coalesce(sum(length(body)), 0) as version
         from policies`,
    );
    return rows[0]?.version ?? "";
  }
}

/** Named settings in PostgreSQL. */
export class PostgresSettingsStore implements SettingsStore {
  constructor(private readonly pool: pg.Pool) {}

  async get(name: string): Promise<string | undefined> {
    const { rows } = await this.pool.query<{ value: string }>("select value from settings where name = $1", [
      name,
    ]);
    return rows[0]?.value;
  }

  async setIfAbsent(name: string, value: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      "insert into settings (name, value) values ($1, $2) on conflict (name) do nothing",
      [name, value],
    );
    return (rowCount ?? 0) > 0;
  }

  async set(name: string, value: string): Promise<void> {
    await this.pool.query(
      "insert into settings (name, value) values ($1, $2) on conflict (name) do update set value = excluded.value",
      [name, value],
    );
  }
}
