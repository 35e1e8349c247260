/**
 * Chooses the engine for durable state, the same way for `serve` and every CLI command:
 * DATABASE_URL=postgres://… selects PostgreSQL (schema HEADROOM_DATABASE_SCHEMA, default
 * public); otherwise SQLite under the data directory. Migrations run on open.
 */
import { unlinkSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "pino";
import { keyHasher } from "../accounts/api-keys.ts";
import { KEY_SECRET_FILE, resolveKeySecret } from "../accounts/key-secret.ts";
import { readEnv } from "../config/env.ts";
import { openPostgresStores } from "./postgres.ts";
import { DatabaseError, type Migration, openDatabase } from "./sqlite.ts";
import { SqliteAccountStore } from "./sqlite-accounts.ts";
import { type Checkpointer, startCheckpointer } from "./sqlite-checkpointer.ts";
import { SqliteLedger } from "./sqlite-ledger.ts";
import { SqlitePolicyStore, SqliteSettingsStore } from "./sqlite-policies.ts";
import type { Stores } from "./store.ts";

export interface OpenStoresOptions {
  dataDir: string;
  env: NodeJS.ProcessEnv;
  logger?: Pick<Logger, "error" | "info" | "warn">;
  onMigrated?: (migration: Migration) => void;
  /** A long-running server: SQLite checkpoints its WAL in a worker thread, off the request path. */
  server?: boolean;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//.test(url);
}

export async function openStores(options: OpenStoresOptions): Promise<Stores> {
  const stores = await openEngine(options);
  try {
    await checkKeySecret(stores, options);
  } catch (error) {
    await stores.close();
    throw error;
  }
  return stores;
}

/**
 * A secret made just now cannot be the one existing keyed hashes were made with: refuse to
 * start rather than turn every key away.
 */
async function checkKeySecret(stores: Stores, options: OpenStoresOptions): Promise<void> {
  if (!keySecretCreated.get(stores) || !(await stores.accounts.hasKeyedHashes())) return;
  unlinkSync(join(options.dataDir, KEY_SECRET_FILE));
  throw new DatabaseError(
    `the keys in ${stores.location} were hashed with a server secret this gateway does not have: set HEADROOM_KEY_SECRET to it, or restore ${KEY_SECRET_FILE} into the data directory ${options.dataDir}.`,
  );
}

const keySecretCreated = new WeakMap<Stores, boolean>();

async function openEngine(options: OpenStoresOptions): Promise<Stores> {
  const env = readEnv(options.env);
  const url = env.DATABASE_URL;
  const maxBuffered = env.HEADROOM_LEDGER_BUFFER;
  if (isPostgresUrl(url)) {
    const keySecret = resolveKeySecret(env, options.dataDir);
    const stores = await openPostgresStores({
      url,
      schema: env.HEADROOM_DATABASE_SCHEMA,
      logger: options.logger,
      onMigrated: options.onMigrated,
      maxBuffered,
      hasher: keyHasher(keySecret.secret),
    });
    keySecretCreated.set(stores, keySecret.created);
    return stores;
  }
  const db = openDatabase(options.dataDir, options.onMigrated);
  const keySecret = resolveKeySecret(env, options.dataDir);
  const location = join(options.dataDir, "headroom.db");
  // A serving gateway watches its file: deleted or replaced under it, rows would be lost at exit.
  const ledger = new SqliteLedger(db, options.logger, maxBuffered, options.server ? location : undefined);
  let checkpointer: Checkpointer | undefined;
  if (options.server) {
    db.pragma("wal_autocheckpoint = 0");
    checkpointer = startCheckpointer(location, {
      onError: (message) => options.logger?.warn({ err: message }, "WAL checkpoint failed; retrying"),
    });
  }
  const stores: Stores = {
    engine: "sqlite",
    location,
    accounts: new SqliteAccountStore(db, keyHasher(keySecret.secret)),
    policies: new SqlitePolicyStore(db),
    settings: new SqliteSettingsStore(db),
    ledger,
    async close() {
      await ledger.close();
      await checkpointer?.stop();
      // What the worker has not checkpointed yet goes into the database file now.
      if (checkpointer) db.pragma("wal_checkpoint(TRUNCATE)");
      db.close();
    },
  };
  keySecretCreated.set(stores, keySecret.created);
  return stores;
}
