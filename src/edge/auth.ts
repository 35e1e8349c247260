/**
 * Authentication: the key comes in `x-api-key` (Anthropic SDK, Claude Code's ANTHROPIC_API_KEY)
 * or `Authorization: Bearer` (OpenAI SDK, Claude Code's ANTHROPIC_AUTH_TOKEN).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { IdentityCache } from "../accounts/identity-cache.ts";
import { authenticationFailed, HeadroomError } from "../errors.ts";
import type { KeyIdentity } from "../stores/store.ts";

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

/** The caller's identity: at once for a remembered key, else once the store has answered. */
export function authenticate(
  accounts: Pick<IdentityCache, "authenticate" | "isRevoked">,
  headers: IncomingHttpHeaders,
): KeyIdentity | Promise<KeyIdentity> {
  const key = presentedKey(headers);
  if (!key) {
    throw authenticationFailed("No API key: send it in the x-api-key header or as Authorization: Bearer.");
  }
  const identity = accounts.authenticate(key);
  if (identity instanceof Promise) {
    return identity.then(
      (found) => found ?? refuse(accounts, key),
      (error: unknown) => {
        throw new HeadroomError(503, "api_error", "The account store is unavailable; retry shortly.", {
          cause: error,
        });
      },
    );
  }
  return identity ?? refuse(accounts, key);
}

async function refuse(accounts: Pick<IdentityCache, "isRevoked">, key: string): Promise<never> {
  if (await accounts.isRevoked(key).catch(() => false))
    throw authenticationFailed("This API key has been revoked.");
  throw authenticationFailed("Invalid API key.");
}
