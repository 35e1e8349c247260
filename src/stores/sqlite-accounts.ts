/** Accounts and API keys in SQLite. Persistence only: key material is made in accounts/. */
import { displayPrefix, generateKey, hashKey, newKeyId } from "../accounts/api-keys.ts";
import type { SqliteDatabase } from "./sqlite.ts";
import type { AccountStore, CreatedKey, KeyIdentity, KeyListing } from "./store.ts";

export type { CreatedKey, KeyIdentity, KeyListing } from "./store.ts";

export class SqliteAccountStore implements AccountStore {
  private readonly findByHash;

  constructor(private readonly db: SqliteDatabase) {
    this.findByHash = db.prepare<
      [string],
      { id: string; account: string; plan: string; revoked_at: string | null; credits_cap_usd: number | null }
    >(
      `select k.id, k.account, coalesce(k.plan, a.plan) as plan, k.revoked_at, a.credits_cap_usd
         from api_keys k join accounts a on a.name = k.account
        where k.hash = ?`,
    );
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
        .run(id, account, hashKey(key), displayPrefix(key), override, now.toISOString());
      return { id, key, account, plan: override ?? existing?.plan ?? plan ?? "" };
    })();
  }

  /** The identity behind a key, or undefined if unknown or revoked. */
  async authenticate(key: string): Promise<KeyIdentity | undefined> {
    const row = this.findByHash.get(hashKey(key));
    if (!row || row.revoked_at) return undefined;
    return { keyId: row.id, account: row.account, plan: row.plan, creditsCapUsd: row.credits_cap_usd };
  }

  /** The identity a key id stands for, revoked or not (its usage still counts for its account). */
  async identityOfKey(keyId: string): Promise<KeyIdentity | undefined> {
    const row = this.db
      .prepare<[string], { id: string; account: string; plan: string; credits_cap_usd: number | null }>(
        `select k.id, k.account, coalesce(k.plan, a.plan) as plan, a.credits_cap_usd
           from api_keys k join accounts a on a.name = k.account where k.id = ?`,
      )
      .get(keyId);
    return row && { keyId: row.id, account: row.account, plan: row.plan, creditsCapUsd: row.credits_cap_usd };
  }

  /** Whether a key exists but was revoked, to say so in the 401. */
  async isRevoked(key: string): Promise<boolean> {
    return Boolean(this.findByHash.get(hashKey(key))?.revoked_at);
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
}
