/**
 * The only place an error becomes wire format: Anthropic's envelope and OpenAI's. The error
 * family itself (`../errors.ts`) knows statuses and types, not protocols.
 */
import { type HeadroomError, SPEND_LIMIT_REACHED } from "../common/errors.ts";

/** The response header that carries an error's stable code (docs/errors.md). */
export const ERROR_CODE_HEADER = "x-headroom-error-code";

export function toAnthropicEnvelope(error: HeadroomError, requestId: string) {
  return {
    type: "error",
    error: {
      type: error.type,
      message: error.message,
      ...(error.details ? { details: error.details } : {}),
    },
    request_id: requestId,
  };
}

/** OpenAI's `code` for the cases its SDKs and docs name. */
function openAICode(error: HeadroomError): string | null {
  switch (error.type) {
    case "authentication_error":
      return "invalid_api_key";
    case "rate_limit_error":
      // OpenAI's code for a quota that is used up (retrying does not help until it renews).
      return error.details?.error_code === SPEND_LIMIT_REACHED ? "insufficient_quota" : "rate_limit_exceeded";
    case "not_found_error":
      return error.param === "model" ? "model_not_found" : null;
    default:
      return null;
  }
}

/** https://platform.openai.com/docs/guides/error-codes: `{error: {message, type, param, code}}`. */
export function toOpenAIEnvelope(error: HeadroomError) {
  return {
    error: {
      message: error.message,
      type: error.type,
      param: error.param,
      code: openAICode(error),
    },
  };
}
