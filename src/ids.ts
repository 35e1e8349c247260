/** Identifiers in the shapes clients know: `msg_…`, `toolu_…`, `req_…`, `chatcmpl-…`. */
import { randomBytes } from "node:crypto";

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

export function randomId(length = 24): string {
  const bytes = randomBytes(length);
  let id = "";
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
}

export const newMessageId = () => `msg_01${randomId(22)}`;
export const newToolUseId = () => `toolu_01${randomId(22)}`;
export const newRequestId = () => `req_01${randomId(22)}`;
export const newCompletionId = () => `chatcmpl-${randomId(29)}`;
