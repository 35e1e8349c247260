/**
 * One error family for the whole gateway. Each error knows its HTTP status and its
 * Anthropic error type; only the edge (`edge/envelopes.ts`) turns an error into a wire format,
 * so no code path string-matches messages and the domain never knows the protocols' shapes.
 *
 * Types and statuses follow https://docs.anthropic.com/en/api/errors.
 */
import { type AnthropicErrorType, ERROR_CODES, type ErrorCode } from "./error-codes.ts";

export type { AnthropicErrorType, ErrorCode };

/** Anthropic's `error.details.error_code` for a spend cap that is used up (spec/api.md §5.7). */
export const SPEND_LIMIT_REACHED = "enforced_spend_limit_reached";

export class HeadroomError extends Error {
  /** Stable code (error-codes.ts, docs/errors.md): what happened, whatever the message says. */
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: AnthropicErrorType;
  /** Extra response headers, e.g. retry-after on 429/529. */
  readonly headers: Record<string, string>;
  /** The request field at fault, reported as OpenAI's `param`. */
  readonly param: string | null;
  /** For a 429: the limit (dimension) that refused, for /metrics. */
  readonly dimension: string | undefined;
  /** Anthropic's `error.details` (e.g. `{error_code: "enforced_spend_limit_reached"}`). */
  readonly details: Record<string, string> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      headers?: Record<string, string>;
      param?: string | null;
      cause?: unknown;
      dimension?: string;
      details?: Record<string, string>;
      /** Only for `upstream_error`: the status and type the upstream answered with. */
      upstream?: { status: number; type: AnthropicErrorType };
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "HeadroomError";
    this.code = code;
    const spec = ERROR_CODES[code];
    this.status = (code === "upstream_error" && options.upstream?.status) || spec.status;
    this.type = (code === "upstream_error" && options.upstream?.type) || spec.type;
    this.headers = options.headers ?? {};
    this.param = options.param ?? null;
    this.dimension = options.dimension;
    this.details = options.details;
  }
}

export const invalidRequest = (message: string, param: string | null = null) =>
  new HeadroomError("invalid_request", message, { param });
export const notFound = (message: string, param: string | null = null) =>
  new HeadroomError("not_found", message, { param });
export const overloaded = (message: string, retryAfterSeconds?: number) =>
  new HeadroomError("overloaded", message, { headers: retryAfter(retryAfterSeconds) });
export const upstreamFailed = (message: string, cause?: unknown) =>
  new HeadroomError("upstream_failed", message, { cause });
export const upstreamTimedOut = (message: string) => new HeadroomError("upstream_timeout", message);
export const internalError = (message = "Internal server error") => new HeadroomError("internal", message);

/** A retry-after header, or none. */
export function retryAfter(seconds: number | undefined): Record<string, string> {
  return seconds === undefined ? {} : { "retry-after": String(seconds) };
}

/** Turns anything thrown into a HeadroomError, hiding internals of unexpected ones. */
export function asHeadroomError(error: unknown): HeadroomError {
  if (error instanceof HeadroomError) return error;
  // Client bodies are parsed (and refused with a 400) before an exchange starts: JSON that fails
  // to parse later is an upstream's event or reply.
  if (error instanceof SyntaxError) {
    return upstreamFailed("The upstream sent a malformed event (not JSON); the response was ended.", error);
  }
  return internalError();
}

const STATUS_BY_TYPE: Record<AnthropicErrorType, number> = {
  invalid_request_error: 400,
  authentication_error: 401,
  billing_error: 402,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

export function isAnthropicErrorType(type: string): type is AnthropicErrorType {
  return Object.hasOwn(STATUS_BY_TYPE, type);
}

/** Rebuilds an error reported by an upstream (an SSE `error` event or an error body). */
export function errorFromUpstream(type: string, message: string, status?: number): HeadroomError {
  const known = isAnthropicErrorType(type) ? type : "api_error";
  return new HeadroomError("upstream_error", message, {
    upstream: { status: status ?? STATUS_BY_TYPE[known], type: known },
  });
}
