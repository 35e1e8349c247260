/**
 * PostgreSQL for durable state shared by many gateways: a pg pool whose connections all work
 * in one schema (search_path), forward-only migrations under an advisory lock (gateways that
 * start together migrate once), and the account, policy and ledger stores on top.
 */
import pg from "pg";
import type { Logger } from "pino";
import type { KeyHasher } from "../accounts/api-keys.ts";
import { PostgresAccountStore, PostgresPolicyStore, PostgresSettingsStore } from "./postgres-accounts.ts";
import { PostgresLedger } from "./postgres-ledger.ts";
import type { Migration } from "./sqlite.ts";
import {
  BILLING_MIGRATION,
  DatabaseError,
  LEVELS_MIGRATION,
  LIMITED_BY_MIGRATION,
  policyReviewMigration,
  SETTINGS_MIGRATION,
  type Stores,
} from "./store.ts";

/** Ordered schema migrations; headroom_schema.version records how many have run. */
export const POSTGRES_MIGRATIONS: readonly string[] = [
  `create table accounts (
     name text primary key,
     plan text not null,
     created_at text not null,
     credits_cap_usd double precision
   );
   create table api_keys (
     id text primary key,
     account text not null references accounts(name),
     hash text not null unique,
     prefix text not null,
     plan text,
     created_at text not null,
     revoked_at text
   );
   create table policies (
     version text primary key,
     effective_from_ms bigint not null,
     body text not null,
     applied_at text not null
   );
   create table usage_events (
     id bigserial primary key,
     at_ms bigint not null,
     request_id text not null unique,
     account text,
     key_id text,
     model text,
     endpoint text not null,
     streamed boolean not null,
     status integer not null,
     error_type text,
     stop_reason text,
     input_tokens bigint not null,
     output_tokens bigint not null,
     cache_creation_input_tokens bigint not null,
     cache_read_input_tokens bigint not null,
     cache_creation_1h_input_tokens bigint not null default 0,
     ttft_ms double precision,
     duration_ms double precision not null,
     on_credits boolean not null default false
   );
   create index usage_events_account_at on usage_events(account, at_ms);
   create index usage_events_at on usage_events(at_ms);`,
  // Organisations and teams above accounts, and limits of their own on each level and on a key.
  LEVELS_MIGRATION,
  SETTINGS_MIGRATION,
  BILLING_MIGRATION,
  // Policy drafts under review and the audit log of every policy change.
  policyReviewMigration("bigserial"),
  LIMITED_BY_MIGRATION,
];

export const POSTGRES_SCHEMA_VERSION = POSTGRES_MIGRATIONS.length;

const INT8 = 20;

/** The URL as people may see it: no password. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return "postgres://…";
  }
}

const quoteIdent = (name: string) => `"${name.replaceAll('"', '""')}"`;

/**
 * Connection settings from a URL. A URL without a user (postgres://127.0.0.1:5432/test) connects
 * as PGUSER, or the login user, or `postgres` where the environment names none (containers, CI).
 */
export function connectionConfig(url: string): pg.ClientConfig {
  try {
    const parsed = new URL(url);
    if (parsed.username === "") {
      parsed.username = process.env.PGUSER || process.env.USER || "postgres";
      return { connectionString: parsed.toString() };
    }
  } catch {
    // Not a URL pg's own parser would take apart differently: hand it over as it is.
  }
  return { connectionString: url };
}

export function createPool(url: string, schema: string): pg.Pool {
  const pool = new pg.Pool({
    ...connectionConfig(url),
    max: 10,
    connectionTimeoutMillis: 2_000,
    idleTimeoutMillis: 30_000,
    // Counts and timestamps are bigint: numbers, not strings (all stay below 2^53).
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8
          ? (value: string) => Number(value)
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
    options: `-c search_path=${quoteIdent(schema)}`,
  });
  // An idle client's error (the server restarted) must not crash the process; the next query reports it.
  pool.on("error", () => {});
  return pool;
}

export async function migratePostgres(pool: pg.Pool, schema: string, location: string): Promise<Migration> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw new DatabaseError(`Cannot reach PostgreSQL at ${location}: ${(error as Error).message}`);
  }
  try {
    await client.query("begin");
    await client.query("select pg_advisory_xact_lock(hashtext($1))", [`headroom-migrate:${schema}`]);
    await client.query(`create schema if not exists ${quoteIdent(schema)}`);
    await client.query("create table if not exists headroom_schema (version integer not null)");
    const { rows } = await client.query<{ version: number }>("select version from headroom_schema");
    const from = rows[0]?.version ?? 0;
    if (rows.length === 0) await client.query("insert into headroom_schema (version) values (0)");
    if (from > POSTGRES_SCHEMA_VERSION) {
      throw new DatabaseError(
        `${location} (schema ${schema}) was written by a newer headroom: its schema is version ${from}, this headroom knows versions up to ${POSTGRES_SCHEMA_VERSION}. Upgrade headroom, or use another database.`,
      );
    }
    for (let i = from; i < POSTGRES_SCHEMA_VERSION; i++) await client.query(POSTGRES_MIGRATIONS[i] ?? "");
    await client.query("update headroom_schema set version = $1", [POSTGRES_SCHEMA_VERSION]);
    await client.query("commit");
    return { from, to: POSTGRES_SCHEMA_VERSION };
  } catch (error) {
    await client.query("rollback").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

export async function openPostgresStores(options: {
  url: string;
  schema: string;
  logger?: Pick<Logger, "error" | "info" | "warn"> | undefined;
  onMigrated?: ((migration: Migration) => void) | undefined;
  maxBuffered?: number | undefined;
  hasher: KeyHasher;
}): Promise<Stores> {
  const location = redactUrl(options.url);
  const pool = createPool(options.url, options.schema);
  try {
    const migration = await migratePostgres(pool, options.schema, location);
    if (migration.from !== migration.to) options.onMigrated?.(migration);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const ledger = new PostgresLedger(pool, options.logger, options.maxBuffered);
  return {
    engine: "postgres",
    location: `${location} (schema ${options.schema})`,
    accounts: new PostgresAccountStore(pool, options.hasher),
    policies: new PostgresPolicyStore(pool),
    settings: new PostgresSettingsStore(pool),
    ledger,
    async close() {
      await ledger.close();
      await pool.end();
    },
  };
}
