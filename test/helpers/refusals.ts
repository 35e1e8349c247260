/**
 * What a limit's refusal may say, and one streamed request against a gateway URL: shared by the
 * concurrency tests in process and through real `headroom serve` processes.
 */
import assert from "node:assert/strict";

/** One streamed request: its status, the tokens it was sent, and a refusal's message. */
export async function streamOnce(url: string, key: string, maxTokens: number, reply: number) {
  const response = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": key, "content-type": "application/json" },
    body: JSON.stringify({
      model: "claude-sonnet-4-6",
      max_tokens: maxTokens,
      stream: true,
      messages: [{ role: "user", content: `sim:tokens=${reply}` }],
    }),
  });
  const text = await response.text();
  if (response.status !== 200) {
    const message = (JSON.parse(text) as { error: { message: string } }).error.message;
    return { status: response.status, output: 0, message };
  }
  const deltas = [...text.matchAll(/"output_tokens":(\d+)/g)].map((match) => Number(match[1]));
  return { status: 200, output: deltas.at(-1) ?? 0, message: "" };
}

/**
 * A refusal of the limit says what the request needed and what was left — never room — or,
 * with nothing left at all (a bucket in debt), that the limit is exceeded.
 */
export function assertNoRoomShown(message: string): void {
  if (
    /^Rate limit of [\d,]+ output tokens per minute exceeded \(organisation [^)]+\); retry after \d+ s\.$/.test(
      message,
    )
  )
    return;
  const numbers = /needs ([\d,]+), ([\d,]+) left/.exec(message);
  assert.ok(numbers, `a refusal that names its numbers: ${message}`);
  const [needs, left] = [numbers[1], numbers[2]].map((value) => Number(String(value).replaceAll(",", "")));
  assert.ok((left as number) < (needs as number), `a refusal whose numbers show room: ${message}`);
}
