/**
 * The worker thread of count-pool.ts: counts requests' tokens with the exact tokenizer, off the
 * gateway's event loop. Each message is `{id, request}`; each answer `{id, tokens}` or `{id, error}`.
 */
import { parentPort } from "node:worker_threads";
import type { CountTokensRequest } from "../anthropic.ts";
import { countRequestTokens } from "./count.ts";

parentPort?.on("message", ({ id, request }: { id: number; request: CountTokensRequest }) => {
  try {
    parentPort?.postMessage({ id, tokens: countRequestTokens(request) });
  } catch (error) {
    parentPort?.postMessage({ id, error: String(error) });
  }
});
