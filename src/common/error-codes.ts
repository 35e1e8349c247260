/**
 * Every error the gateway answers with, by a stable code: its HTTP status, its Anthropic error
 * type (OpenAI's envelope carries the same type) and when it happens. Code that fails names a
 * code, never a status, so a status cannot drift from its meaning, and operators and clients
 * can act on the code (the `x-headroom-error-code` response header, the log line's
 * `error_code`). docs/errors.md lists the same table; a test keeps the two in step.
 */

/** Anthropic's error types (https://docs.anthropic.com/en/api/errors). */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "timeout_error"
  | "overloaded_error";

export interface ErrorSpec {
  status: number;
  type: AnthropicErrorType;
  /** When it is answered (docs/errors.md's "when" column). */
  when: string;
}

export const ERROR_CODES = {
  invalid_request: {
    status: 400,
    type: "invalid_request_error",
    when: "A field is missing or wrong (the message names it; OpenAI's `param` too).",
  },
  invalid_json: { status: 400, type: "invalid_request_error", when: "The body is not valid JSON." },
  empty_body: { status: 400, type: "invalid_request_error", when: "The body is empty." },
  unsupported_media_type: {
    status: 400,
    type: "invalid_request_error",
    when: "The content-type is not JSON.",
  },
  invalid_url: { status: 400, type: "invalid_request_error", when: "The URL does not decode." },
  invalid_http: { status: 400, type: "invalid_request_error", when: "The bytes received are not HTTP." },
  unknown_plan: {
    status: 400,
    type: "invalid_request_error",
    when: "An admin call names a plan the policy in force does not have.",
  },
  no_such_window: {
    status: 400,
    type: "invalid_request_error",
    when: "A limits explanation asks for a window the key's plan does not have.",
  },
  missing_api_key: { status: 401, type: "authentication_error", when: "No API key was sent." },
  invalid_api_key: { status: 401, type: "authentication_error", when: "The API key is not known." },
  revoked_api_key: { status: 401, type: "authentication_error", when: "The API key was revoked." },
  admin_token_required: {
    status: 401,
    type: "authentication_error",
    when: "An admin route or /metrics was called without the admin token, or with a wrong one.",
  },
  customer_key_on_admin: {
    status: 403,
    type: "permission_error",
    when: "A customer API key was sent to the admin API.",
  },
  plan_not_offered: {
    status: 403,
    type: "permission_error",
    when: "The key's plan (or its team's or organisation's) is not in the policy in force.",
  },
  not_found: { status: 404, type: "not_found_error", when: "No such route or resource." },
  unknown_model: {
    status: 404,
    type: "not_found_error",
    when: "The model is not served here (GET /v1/models lists those that are).",
  },
  request_timeout: {
    status: 408,
    type: "timeout_error",
    when: "The request's headers or body did not arrive in time.",
  },
  conflict: {
    status: 409,
    type: "invalid_request_error",
    when: "An admin change conflicts with the state (a name in use, a draft already reviewed).",
  },
  plan_running: {
    status: 409,
    type: "invalid_request_error",
    when: "A plan is already running on this gateway; one runs at a time (retry-after).",
  },
  body_too_large: {
    status: 413,
    type: "request_too_large",
    when: "The body is larger than server.body_limit_mb.",
  },
  headers_too_large: {
    status: 431,
    type: "request_too_large",
    when: "The request headers are too large or too many.",
  },
  rate_limited: {
    status: 429,
    type: "rate_limit_error",
    when: "A limit of the key's plan, team or organisation has no room (retry-after says when it has).",
  },
  spend_limit_reached: {
    status: 429,
    type: "rate_limit_error",
    when: "A spend cap is used up: no retry-after, the message gives the reset instant (details.error_code).",
  },
  too_many_bad_keys: {
    status: 429,
    type: "rate_limit_error",
    when: "Too many invalid keys came from this address (retry-after).",
  },
  internal: { status: 500, type: "api_error", when: "A bug: the log line has the cause." },
  upstream_failed: {
    status: 502,
    type: "api_error",
    when: "The upstream could not be reached, answered what is not its protocol, or is not configured.",
  },
  upstream_stream_ended: {
    status: 502,
    type: "api_error",
    when: "The upstream's stream ended before the message was complete.",
  },
  upstream_error: {
    status: 500,
    type: "api_error",
    when: "The upstream answered with an error of its own: its status and type are passed on (500 when it gave none).",
  },
  ledger_unavailable: {
    status: 503,
    type: "api_error",
    when: "The usage ledger cannot take rows (disk full, read-only, down with its buffer full): nothing new is served (retry-after).",
  },
  usage_unrecorded: {
    status: 503,
    type: "api_error",
    when: "This response's ledger row could not be written, so the response was not completed (retry-after).",
  },
  limiter_unavailable: {
    status: 503,
    type: "api_error",
    when: "The limiter store is down and limiter.on_store_failure is closed (retry-after).",
  },
  account_store_unavailable: {
    status: 503,
    type: "api_error",
    when: "Keys cannot be checked: the account store is down and the key is not cached (retry-after).",
  },
  upstream_timeout: { status: 504, type: "timeout_error", when: "The upstream did not answer in time." },
  overloaded: {
    status: 529,
    type: "overloaded_error",
    when: "The model is short of capacity and lower-priority traffic is shed, or no deployment can take the request (retry-after).",
  },
  shutting_down: {
    status: 529,
    type: "overloaded_error",
    when: "The gateway is shutting down; another instance takes the retry.",
  },
  counter_busy: {
    status: 529,
    type: "overloaded_error",
    when: "Too many large prompts wait to be counted by count_tokens (retry-after).",
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;
