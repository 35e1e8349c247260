/**
 * The operator's admin token, separate from customer keys (DESIGN.md): HEADROOM_ADMIN_TOKEN when
 * set; otherwise one generated at the first start, of which only the SHA-256 is stored (in the
 * database, so every gateway on a shared PostgreSQL accepts the same token) and which the first
 * gateway prints once. Comparison is constant-time.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { randomId } from "../../common/ids.ts";
import type { HeadroomEnv } from "../../config/env.ts";
import type { SettingsStore } from "../../stores/store.ts";

const SETTING = "admin_token_sha256";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

export interface AdminToken {
  /** Whether a presented token is the admin token. */
  accepts(presented: string): boolean;
  /** The token itself, only when this start generated it (to be printed once). */
  generated?: string;
  /** Where it comes from, for the banner. */
  source: "environment" | "stored" | "generated";
}

function acceptor(hash: string): (presented: string) => boolean {
  const expected = Buffer.from(hash, "hex");
  return (presented) => {
    const actual = Buffer.from(sha256(presented), "hex");
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  };
}

export async function resolveAdminToken(
  env: Partial<Pick<HeadroomEnv, "HEADROOM_ADMIN_TOKEN">>,
  settings: SettingsStore,
): Promise<AdminToken> {
  const fromEnv = env.HEADROOM_ADMIN_TOKEN;
  if (fromEnv) return { accepts: acceptor(sha256(fromEnv)), source: "environment" };
  const stored = await settings.get(SETTING);
  if (stored) return { accepts: acceptor(stored), source: "stored" };
  const token = `hr-admin-${randomId(40)}`;
  // Gateways starting together on one database: the first to store its hash wins; the others
  // take the stored one and print nothing.
  if (await settings.setIfAbsent(SETTING, sha256(token)))
    return { accepts: acceptor(sha256(token)), generated: token, source: "generated" };
  const winner = (await settings.get(SETTING)) as string;
  return { accepts: acceptor(winner), source: "stored" };
}

/** A new token replacing the stored one (`headroom admin rotate-token`); printed once by the caller. */
export async function rotateAdminToken(settings: SettingsStore): Promise<string> {
  const token = `hr-admin-${randomId(40)}`;
  await settings.set(SETTING, sha256(token));
  return token;
}
