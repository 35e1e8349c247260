/**
 * The worker thread of count-pool.ts: counts requests' tokens with the exact tokenizer, off the
 * gateway's event loop. A message is `{id, request}` (a parsed body) or `{id, bytes}` (a large
 * body's JSON bytes, decoded, parsed and validated here so the loop never holds that either); each answer
 * is `{id, tokens}`, `{id, failure: {code, message, param}}` for a body the client must fix, or
 * `{id, error}`.
 */
import { parentPort } from "node:worker_threads";
import { HeadroomError } from "../../common/errors.ts";
import { type CountTokensRequest, countTokensRequestSchema } from "../anthropic.ts";
import { parseJsonBody, validateBody } from "../validate.ts";
import { countRequestTokens } from "./count.ts";

function requestOf(message: { request?: CountTokensRequest; bytes?: Uint8Array }): CountTokensRequest {
  if (message.bytes === undefined) return message.request as CountTokensRequest;
  const text = Buffer.from(message.bytes.buffer, message.bytes.byteOffset, message.bytes.length).toString(
    "utf8",
  );
  return validateBody(countTokensRequestSchema, parseJsonBody(text));
}

parentPort?.on("message", (message: { id: number; request?: CountTokensRequest; bytes?: Uint8Array }) => {
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
