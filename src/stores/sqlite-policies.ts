/** Dated policies in SQLite. Stored as validated JSON; the policy book decides which is in force. */
import { type Policy, policySchema } from "../plans/schema.ts";
import type { SqliteDatabase } from "./sqlite.ts";

export class SqlitePolicyStore {
  constructor(private readonly db: SqliteDatabase) {}

  /** Stores a policy; a version already stored is refused unless `replace`. */
  apply(policy: Policy, options: { replace?: boolean; now?: Date } = {}): void {
    const exists = this.db.prepare("select 1 from policies where version = ?").get(policy.version);
    if (exists && !options.replace) {
      throw new Error(`policy ${policy.version} is already stored; give --replace to overwrite it`);
    }
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

  /** Stores every policy of a file, or none of them. */
  applyAll(policies: readonly Policy[], options: { replace?: boolean; now?: Date } = {}): void {
    this.db.transaction(() => {
      for (const policy of policies) this.apply(policy, options);
    })();
  }

  /** Every stored policy, earliest effective first. */
  list(): Policy[] {
    return this.db
      .prepare<[], { body: string }>("select body from policies order by effective_from_ms, version")
      .all()
      .map((row) => policySchema.parse(JSON.parse(row.body)));
  }

  remove(version: string): boolean {
    return this.db.prepare("delete from policies where version = ?").run(version).changes > 0;
  }

  /** Changes whenever another connection commits: a cheap way to notice `policy apply`. */
  dataVersion(): number {
    return this.db.pragma("data_version", { simple: true }) as number;
  }
}
