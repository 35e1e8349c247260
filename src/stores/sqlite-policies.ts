/** Dated policies in SQLite. Stored as validated JSON; the policy book decides which is in force. */
import { type Policy, policySchema } from "../plans/schema.ts";
import type { SqliteDatabase } from "./sqlite.ts";
import { type PolicyStore, policyAlreadyStored, type SettingsStore } from "./store.ts";

export class SqlitePolicyStore implements PolicyStore {
  constructor(private readonly db: SqliteDatabase) {}

  private apply(policy: Policy, options: { replace?: boolean; now?: Date }): void {
    const exists = this.db.prepare("select 1 from policies where version = ?").get(policy.version);
    if (exists && !options.replace) throw policyAlreadyStored(policy.version);
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

  async applyAll(
    policies: readonly Policy[],
    options: { replace?: boolean; now?: Date } = {},
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

  async remove(version: string): Promise<boolean> {
    return this.db.prepare("delete from policies where version = ?").run(version).changes > 0;
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
