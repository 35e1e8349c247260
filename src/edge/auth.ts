/**
 * Authentication: the key comes in `x-api-key` (Anthropic SDK, Claude Code's ANTHROPIC_API_KEY)
 * or `Authorization: Bearer` (OpenAI SDK, Claude Code's ANTHROPIC_AUTH_TOKEN).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { KeyLookup } from "../accounts/identity-cache.ts";
import { authenticationFailed } from "../errors.ts";
import type { KeyIdentity } from "../stores/sqlite-accounts.ts";

export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers["x-api-key"];
  if (typeof apiKey === "string" && apiKey.length > 0) return apiKey.trim();
  const authorization = headers.authorization;
  if (typeof authorization === "string") {
    const match = /^Bearer\s+(.+)$/i.exec(authorization);
    if (match?.[1]) return match[1].trim();
  }
  return undefined;
}

export function authenticate(accounts: KeyLookup, headers: IncomingHttpHeaders): KeyIdentity {
  const key = presentedKey(headers);
  if (!key) {
    throw authenticationFailed("No API key: send it in the x-api-key header or as Authorization: Bearer.");
  }
  const identity = accounts.authenticate(key);
  if (identity) return identity;
  if (accounts.isRevoked(key)) throw authenticationFailed("This API key has been revoked.");
  throw authenticationFailed("Invalid API key.");
}
