/**
 * The worker thread of count-pool.ts: counts requests' tokens with the exact tokenizer, off the
 * gateway's event loop. A message is `{id, request}` (a parsed body) or `{id, text}` (a large
 * body's JSON text, parsed and validated here so the loop never holds that either); each answer
 * is `{id, tokens}`, `{id, failure: {code, message, param}}` for a body the client must fix, or
 * `{id, error}`.
 */
import { parentPort } from "node:worker_threads";
import { HeadroomError } from "../../common/errors.ts";
import { type CountTokensRequest, countTokensRequestSchema } from "../anthropic.ts";
import { parseJsonBody, validateBody } from "../validate.ts";
import { countRequestTokens } from "./count.ts";

function requestOf(message: { request?: CountTokensRequest; text?: string }): CountTokensRequest {
  if (message.text === undefined) return message.request as CountTokensRequest;
  return validateBody(countTokensRequestSchema, parseJsonBody(message.text));
}

parentPort?.on("message", (message: { id: number; request?: CountTokensRequest; text?: string }) => {
  const { id } = message;
  try {
    parentPort?.postMessage({ id, tokens: countRequestTokens(requestOf(message)) });
  } catch (error) {
    if (error instanceof HeadroomError)
      parentPort?.postMessage({
        id,
        failure: { code: error.code, message: error.message, param: error.param },
      });
    else parentPort?.postMessage({ id, error: String(error) });
  }
});
