/**
 * The server secret that keys API-key hashes (api-keys.ts): HEADROOM_KEY_SECRET when set (every
 * gateway sharing a database must then be given the same one), otherwise a random secret made
 * once in the data directory, readable by its owner only. It never goes into the database: a
 * copy of the database without it is useless for testing key guesses.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { HeadroomEnv } from "../config/env.ts";
import { ConfigError } from "../config/yaml-file.ts";

export const KEY_SECRET_FILE = "key-secret";

export interface KeySecret {
  secret: Buffer;
  /** Where it came from, for messages: the variable's name or the file's path. */
  source: string;
  /** Made by this call: keys hashed before it cannot have used it. */
  created: boolean;
}

export function resolveKeySecret(env: Pick<HeadroomEnv, "HEADROOM_KEY_SECRET">, dataDir: string): KeySecret {
  // At least 32 characters: config/env.ts refuses a shorter one at start.
  const given = env.HEADROOM_KEY_SECRET;
  if (given) {
    return { secret: Buffer.from(given, "utf8"), source: "HEADROOM_KEY_SECRET", created: false };
  }
  const file = join(dataDir, KEY_SECRET_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Written whole under another name, then linked into place: of two processes starting
  // together one links, the other finds the complete file.
  const draft = `${file}.${process.pid}.${randomBytes(4).toString("hex")}`;
  writeFileSync(draft, `${randomBytes(32).toString("hex")}\n`, { mode: 0o600 });
  let created = true;
  try {
    linkSync(draft, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    created = false;
  } finally {
    unlinkSync(draft);
  }
  chmodSync(file, 0o600);
  const secret = readFileSync(file, "utf8").trim();
  if (secret.length < 32)
    throw new ConfigError(`${file} is damaged (shorter than a secret): restore it from a backup.`);
  return { secret: Buffer.from(secret, "utf8"), source: file, created };
}
