/**
 * API key material. A key is 32 random bytes in base62 behind a recognisable prefix; only its
 * SHA-256 is stored. A fast hash is right here (unlike passwords): keys carry 190 bits of
 * entropy, so there is nothing to brute-force, and every request must verify one.
 */
import { createHash } from "node:crypto";
import { randomId } from "../ids.ts";

export const KEY_PREFIX = "sk-hr-";

export function generateKey(): string {
  return `${KEY_PREFIX}${randomId(32)}`;
}

export function hashKey(key: string): string {
  return createHash("sha256").update(key).digest("hex");
}

/** What listings show of a key: enough to recognise it, too little to use it. */
export function displayPrefix(key: string): string {
  return `${key.slice(0, KEY_PREFIX.length + 6)}…`;
}

export const newKeyId = () => `key_${randomId(16)}`;
