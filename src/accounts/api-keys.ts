/**
 * API key material. A key is 32 random bytes in base62 behind a recognisable prefix; only a
 * keyed hash of it (HMAC-SHA-256 with the server's secret, key-secret.ts) is stored, so a copy
 * of the database alone neither reveals keys nor lets anyone test guesses offline, and a lookup
 * by hash leaks nothing an attacker can steer. A fast hash is right here (unlike passwords):
 * keys carry 190 bits of entropy, and every request must verify one.
 */
import { createHash, createHmac } from "node:crypto";
import { randomId } from "../common/ids.ts";

export const KEY_PREFIX = "sk-hr-";

export function generateKey(): string {
  return `${KEY_PREFIX}${randomId(32)}`;
}

/** How stores turn a presented key into what they look it up by. */
export interface KeyHasher {
  hash(key: string): string;
  /** The unkeyed SHA-256 earlier versions stored; such rows are rehashed when first used. */
  legacyHash(key: string): string;
}

const HMAC_PREFIX = "hmac-sha256:";

export function keyHasher(secret: Buffer): KeyHasher {
  return {
    hash: (key) => HMAC_PREFIX + createHmac("sha256", secret).update(key).digest("hex"),
    legacyHash: (key) => createHash("sha256").update(key).digest("hex"),
  };
}

/** What listings show of a key: enough to recognise it, too little to use it. */
export function displayPrefix(key: string): string {
  return `${key.slice(0, KEY_PREFIX.length + 6)}…`;
}

export const newKeyId = () => `key_${randomId(16)}`;
