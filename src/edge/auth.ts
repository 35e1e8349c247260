/**
 * Authentication: the key comes in `x-api-key` (Anthropic SDK, Claude Code's ANTHROPIC_API_KEY)
 * or `Authorization: Bearer` (OpenAI SDK, Claude Code's ANTHROPIC_AUTH_TOKEN). Customer routes
 * are authenticated from the headers alone, before a byte of the body is read, and repeated
 * invalid keys from one address are throttled (bad-key-throttle.ts).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { KeyIdentity } from "../accounts/account-store.ts";
import type { IdentityCache } from "../accounts/identity-cache.ts";
import { HeadroomError } from "../common/errors.ts";
import type { BadKeyThrottle } from "./bad-key-throttle.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The caller, set before the body is read on every customer route. */
    identity?: KeyIdentity;
  }
}

/** Routes that serve a customer's key (the admin API and the dashboard have their own token). */
const CUSTOMER_ROUTES = new Set([
  "/v1/messages",
  "/v1/messages/count_tokens",
  "/v1/chat/completions",
  "/v1/responses",
  "/v1/models",
  "/v1/models/:id",
  "/v1/headroom/limits",
]);

/** The identity the pre-body hook found; every customer route has one. */
export function identityOf(request: FastifyRequest): KeyIdentity {
  if (!request.identity) throw new Error(`route ${request.routeOptions.url} is not authenticated`);
  return request.identity;
}

/**
 * Authenticates customer routes in `preParsing`: a refused key is answered (401, or 429 when its
 * address keeps sending invalid ones) without reading the body, and the connection is closed
 * so the rest of a large body is never taken in.
 */
export function registerCustomerAuth(
  app: FastifyInstance,
  identities: Pick<IdentityCache, "authenticate" | "isRevoked" | "knows">,
  throttle: BadKeyThrottle,
): void {
  app.addHook("preParsing", (request, reply, payload, done) => {
    if (!CUSTOMER_ROUTES.has(request.routeOptions.url ?? "")) {
      done(null, payload);
      return;
    }
    const refuse = (error: unknown) => {
      if (error instanceof HeadroomError && error.status === 401) throttle.failed(request.ip);
      if (request.headers["content-length"] !== "0" && request.method !== "GET")
        reply.header("connection", "close");
      done(error as Error);
    };
    let found: KeyIdentity | Promise<KeyIdentity>;
    try {
      const waitMs = throttle.retryAfterMs(request.ip);
      const key = presentedKey(request.headers);
      if (waitMs > 0 && !(key && identities.knows(key))) {
        const seconds = Math.ceil(waitMs / 1000);
        throw new HeadroomError(
          "too_many_bad_keys",
          `Too many invalid API keys from this address; retry after ${seconds} s.`,
          { headers: { "retry-after": String(seconds) } },
        );
      }
      found = authenticate(identities, request.headers);
    } catch (error) {
      refuse(error);
      return;
    }
    if (found instanceof Promise) {
      found.then((identity) => {
        request.identity = identity;
        done(null, payload);
      }, refuse);
      return;
    }
    request.identity = found;
    done(null, payload);
  });
}

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
    throw new HeadroomError(
      "missing_api_key",
      "No API key: send it in the x-api-key header or as Authorization: Bearer.",
    );
  }
  const identity = accounts.authenticate(key);
  if (identity instanceof Promise) {
    return identity.then(
      (found) => found ?? refuse(accounts, key),
      (error: unknown) => {
        throw new HeadroomError(
          "account_store_unavailable",
          "The account store is unavailable; retry shortly.",
          {
            cause: error,
            headers: { "retry-after": "5" },
          },
        );
      },
    );
  }
  return identity ?? refuse(accounts, key);
}

async function refuse(accounts: Pick<IdentityCache, "isRevoked">, key: string): Promise<never> {
  if (await accounts.isRevoked(key).catch(() => false))
    throw new HeadroomError("revoked_api_key", "This API key has been revoked.");
  throw new HeadroomError("invalid_api_key", "Invalid API key.");
}
