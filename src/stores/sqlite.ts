/**
 * The embedded database: one SQLite file under the data directory holding accounts, API keys
 * and the usage ledger. WAL mode lets `headroom keys create` in a second terminal write while
 * the server reads; busy_timeout makes the two wait for each other instead of failing.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  BILLING_MIGRATION,
  DatabaseError,
  LEVELS_MIGRATION,
  LIMITED_BY_MIGRATION,
  policyReviewMigration,
  SETTINGS_MIGRATION,
} from "./store.ts";

export { DatabaseError };

export type SqliteDatabase = Database.Database;

/** Ordered schema migrations; `PRAGMA user_version` records how many have run. */
export const MIGRATIONS: readonly string[] = [
  `create table accounts (
     name text primary key,
     plan text not null,
     created_at text not null
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
   create table usage_events (
     id integer primary key,
     at_ms integer not null,
     request_id text not null,
     account text,
     key_id text,
     model text,
     endpoint text not null,
     streamed integer not null,
     status integer not null,
     error_type text,
     stop_reason text,
     input_tokens integer not null,
     output_tokens integer not null,
     cache_creation_input_tokens integer not null,
     cache_read_input_tokens integer not null,
     ttft_ms real,
     duration_ms real not null
   );
   create index usage_events_account_at on usage_events(account, at_ms);`,
  `create table policies (
     version text primary key,
     effective_from_ms integer not null,
     body text not null,
     applied_at text not null
   );`,
  // Usage credits: a monthly cap the account chose (null = not opted in), and which requests used them.
  `alter table accounts add column credits_cap_usd real;
   alter table usage_events add column on_credits integer not null default 0;`,
  // One row per request: a write repeated after a retry or a crash can never count twice.
  `delete from usage_events where id not in (select min(id) from usage_events group by request_id);
   create unique index usage_events_request_id on usage_events(request_id);
   create index usage_events_at on usage_events(at_ms);`,
  `alter table usage_events add column cache_creation_1h_input_tokens integer not null default 0;`,
  // Organisations and teams above accounts, and limits of their own on each level and on a key.
  LEVELS_MIGRATION,
  SETTINGS_MIGRATION,
  BILLING_MIGRATION,
  // Policy drafts under review and the audit log of every policy change.
  policyReviewMigration("integer"),
  LIMITED_BY_MIGRATION,
];

/** The schema version this code writes: the number of migrations. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export interface Migration {
  from: number;
  to: number;
}

/**
 * Opens (creating if needed) the database under `dataDir` and brings its schema up to date,
 * forward only. A file that is not SQLite, or a schema newer than this code, is a DatabaseError.
 */
export function openDatabase(dataDir: string, onMigrated?: (migration: Migration) => void): SqliteDatabase {
  const path = join(dataDir, "headroom.db");
  let db: SqliteDatabase;
  try {
    // Keys' hashes, the ledger and the admin token's hash live here: readable by this user only.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    db = new Database(path);
    chmodSync(path, 0o600);
  } catch (error) {
    const reason = (error as Error).message.replace(/^[A-Z]+: /, "");
    throw new DatabaseError(
      `cannot open the data directory ${dataDir} (${reason}): give another --data-dir, or let this user write there.`,
    );
  }
  try {
    db.pragma("journal_mode = WAL");
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose the tail.
    db.pragma("synchronous = NORMAL");
    const migration = migrate(db, path);
    if (migration.to !== migration.from) onMigrated?.(migration);
  } catch (error) {
    db.close();
    if (error instanceof DatabaseError) throw error;
    const code = (error as { code?: string }).code;
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
      throw new DatabaseError(
        `${path} is not a usable headroom database (SQLite: ${(error as Error).message}). Move it aside, or give another --data-dir.`,
      );
    }
    throw error;
  }
  return db;
}

function migrate(db: SqliteDatabase, path: string): Migration {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new DatabaseError(
      `${path} was written by a newer headroom: its schema is version ${version}, this headroom knows versions up to ${SCHEMA_VERSION}. Upgrade headroom, or give another --data-dir.`,
    );
  }
  for (let i = version; i < SCHEMA_VERSION; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i] ?? "");
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
  return { from: version, to: SCHEMA_VERSION };
}
