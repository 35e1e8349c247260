/** Accounts and API keys in SQLite. Persistence only: key material is made in accounts/. */

import type {
  AccountStore,
  CreatedKey,
  KeyIdentity,
  KeyListing,
  LevelListing,
} from "../accounts/account-store.ts";
import { displayPrefix, generateKey, type KeyHasher, newKeyId } from "../accounts/api-keys.ts";
import { type LevelLimits, parseLevelLimits } from "../plans/level-limits.ts";
import type { SqliteDatabase } from "./sqlite.ts";
import { IDENTITY_SELECT, type IdentityRow, identityFromRow, LEVEL_TABLES } from "./store.ts";

export type { CreatedKey, KeyIdentity, KeyListing } from "../accounts/account-store.ts";

export class SqliteAccountStore implements AccountStore {
  private readonly findByHash;
  private readonly rehash;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly hasher: KeyHasher,
  ) {
    this.findByHash = db.prepare<[string], IdentityRow & { revoked_at: string | null }>(
      `${IDENTITY_SELECT} where k.hash = ?`,
    );
    this.rehash = db.prepare<[string, string]>("update api_keys set hash = ? where hash = ?");
  }

  /** The key's row by its keyed hash; a row still under the legacy hash is rehashed on the way. */
  private rowOf(key: string) {
    const hash = this.hasher.hash(key);
    const row = this.findByHash.get(hash);
    if (row) return row;
    const legacy = this.hasher.legacyHash(key);
    const old = this.findByHash.get(legacy);
    if (old) this.rehash.run(hash, legacy);
    return old;
  }

  async hasKeyedHashes(): Promise<boolean> {
    return Boolean(this.db.prepare("select 1 from api_keys where hash like 'hmac-%' limit 1").get());
  }

  /**
   * Creates a key for an account, creating the account with `plan` if it is new. For an
   * existing account a different plan becomes this key's own override.
   */
  async createKey(account: string, plan: string | undefined, now = new Date()): Promise<CreatedKey> {
    return this.db.transaction(() => {
      const existing = this.db
        .prepare<[string], { plan: string }>("select plan from accounts where name = ?")
        .get(account);
      if (!existing) {
        if (!plan) throw new Error(`Account "${account}" does not exist yet; give --plan to create it.`);
        this.db
          .prepare("insert into accounts (name, plan, created_at) values (?, ?, ?)")
          .run(account, plan, now.toISOString());
      }
      const override = existing && plan && plan !== existing.plan ? plan : null;
      const key = generateKey();
      const id = newKeyId();
      this.db
        .prepare(
          "insert into api_keys (id, account, hash, prefix, plan, created_at) values (?, ?, ?, ?, ?, ?)",
        )
        .run(id, account, this.hasher.hash(key), displayPrefix(key), override, now.toISOString());
      return { id, key, account, plan: override ?? existing?.plan ?? plan ?? "" };
    })();
  }

  /** The identity behind a key, or undefined if unknown or revoked. */
  async authenticate(key: string): Promise<KeyIdentity | undefined> {
    const row = this.rowOf(key);
    if (!row || row.revoked_at) return undefined;
    return identityFromRow(row, parseLevelLimits);
  }

  /** The identity a key id stands for, revoked or not (its usage still counts for its account). */
  async identityOfKey(keyId: string): Promise<KeyIdentity | undefined> {
    const row = this.db.prepare<[string], IdentityRow>(`${IDENTITY_SELECT} where k.id = ?`).get(keyId);
    return row && identityFromRow(row, parseLevelLimits);
  }

  /** Whether a key exists but was revoked, to say so in the 401. */
  async isRevoked(key: string): Promise<boolean> {
    return Boolean(this.rowOf(key)?.revoked_at);
  }

  async listKeys(account?: string): Promise<KeyListing[]> {
    const sql = `select k.id, k.account, coalesce(k.plan, a.plan) as plan, k.prefix, k.created_at, k.revoked_at
                   from api_keys k join accounts a on a.name = k.account
                  ${account ? "where k.account = ?" : ""}
                  order by k.created_at, k.id`;
    const statement = this.db.prepare<unknown[], KeyListing>(sql);
    return account ? statement.all(account) : statement.all();
  }

  /** Changes an account's plan and/or its usage-credit cap (null turns credits off). */
  async updateAccount(
    account: string,
    changes: { plan?: string; creditsCapUsd?: number | null },
  ): Promise<boolean> {
    const sets: string[] = [];
    const params: unknown[] = [];
    if (changes.plan !== undefined) {
      sets.push("plan = ?");
      params.push(changes.plan);
    }
    if (changes.creditsCapUsd !== undefined) {
      sets.push("credits_cap_usd = ?");
      params.push(changes.creditsCapUsd);
    }
    if (sets.length === 0)
      return this.db.prepare("select 1 from accounts where name = ?").get(account) !== undefined;
    return (
      this.db.prepare(`update accounts set ${sets.join(", ")} where name = ?`).run(...params, account)
        .changes > 0
    );
  }

  /** Revokes by key id; returns false if there is no such active key. */
  async revokeKey(id: string, now = new Date()): Promise<boolean> {
    const result = this.db
      .prepare("update api_keys set revoked_at = ? where id = ? and revoked_at is null")
      .run(now.toISOString(), id);
    return result.changes > 0;
  }

  async createOrganisation(name: string, limits: LevelLimits, now = new Date()): Promise<void> {
    if (this.db.prepare("select 1 from organisations where name = ?").get(name))
      throw new Error(`Organisation "${name}" already exists.`);
    this.db
      .prepare("insert into organisations (name, limits, created_at) values (?, ?, ?)")
      .run(name, JSON.stringify(limits), now.toISOString());
  }

  async createTeam(name: string, organisation: string, limits: LevelLimits, now = new Date()): Promise<void> {
    this.db.transaction(() => {
      if (!this.db.prepare("select 1 from organisations where name = ?").get(organisation))
        throw new Error(`Organisation "${organisation}" does not exist.`);
      if (this.db.prepare("select 1 from teams where name = ?").get(name))
        throw new Error(`Team "${name}" already exists.`);
      this.db
        .prepare("insert into teams (name, organisation, limits, created_at) values (?, ?, ?, ?)")
        .run(name, organisation, JSON.stringify(limits), now.toISOString());
    })();
  }

  async listOrganisations(): Promise<LevelListing[]> {
    return this.db
      .prepare<[], { name: string; limits: string; created_at: string }>(
        "select name, limits, created_at from organisations order by name",
      )
      .all()
      .map((row) => ({ ...row, limits: parseLevelLimits(row.limits) }));
  }

  async listTeams(organisation?: string): Promise<LevelListing[]> {
    const statement = this.db.prepare<
      unknown[],
      { name: string; organisation: string; limits: string; created_at: string }
    >(
      `select name, organisation, limits, created_at from teams ${organisation ? "where organisation = ?" : ""} order by name`,
    );
    return (organisation ? statement.all(organisation) : statement.all()).map((row) => ({
      ...row,
      limits: parseLevelLimits(row.limits),
    }));
  }

  async setLimits(
    level: "organisation" | "team" | "key",
    name: string,
    limits: LevelLimits,
  ): Promise<boolean> {
    const { table, column } = LEVEL_TABLES[level];
    return (
      this.db.prepare(`update ${table} set limits = ? where ${column} = ?`).run(JSON.stringify(limits), name)
        .changes > 0
    );
  }

  async setAccountTeam(account: string, team: string | null): Promise<boolean> {
    if (team !== null && !this.db.prepare("select 1 from teams where name = ?").get(team)) return false;
    return this.db.prepare("update accounts set team = ? where name = ?").run(team, account).changes > 0;
  }
}
