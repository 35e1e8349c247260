import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { parseSse } from "../../src/protocol/sse-parser.ts";

async function parse(chunks: string[]) {
  async function* body() {
    const encoder = new TextEncoder();
    for (const chunk of chunks) yield encoder.encode(chunk);
  }
  const events = [];
  for await (const event of parseSse(body())) events.push(event);
  return events;
}

/** Cuts text into pieces at the given offsets (anywhere: mid-line, mid-character, between CR and LF). */
function cut(text: string, offsets: number[]): string[] {
  const bytes = new TextEncoder().encode(text);
  const at = [...new Set(offsets.map((offset) => offset % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: string[] = [];
  let start = 0;
  const decoder = new TextDecoder();
  for (const end of [...at, bytes.length]) {
    pieces.push(decoder.decode(bytes.subarray(start, end), { stream: true }));
    start = end;
  }
  return pieces;
}

const name = fc.stringMatching(/^[a-z_]{1,20}$/);
// Data lines as servers send them: JSON text, never a newline; any character otherwise.
const data = fc.string({ unit: "grapheme", maxLength: 60 }).map((text) => text.replace(/[\r\n]/g, " "));
const events = fc.array(fc.record({ event: name, data }, { noNullPrototype: true }), {
  minLength: 1,
  maxLength: 12,
});
const offsets = fc.array(fc.nat(2_000), { maxLength: 8 });

describe("the SSE parser", () => {
  test("Anthropic's event blocks come back whole, with their own text, however the stream is cut", async () => {
    await fc.assert(
      fc.asyncProperty(events, offsets, async (sent, at) => {
        const text = sent.map((e) => `event: ${e.event}\ndata: ${e.data}\n\n`).join("");
        const parsed = await parse(cut(text, at));
        assert.deepEqual(
          parsed.map(({ event, data }) => ({ event, data })),
          sent,
        );
        // Where a block arrived whole its text is kept, and the kept texts are the stream's own.
        for (const [i, event] of parsed.entries())
          if (event.raw !== undefined)
            assert.equal(event.raw, `event: ${sent[i]?.event}\ndata: ${sent[i]?.data}\n\n`);
        assert.ok(parsed.some((event) => event.raw !== undefined) || at.length > 0);
      }),
    );
  });

  test("CRLF endings, comments, multi-line data and unnamed events parse as the spec says", async () => {
    await fc.assert(
      fc.asyncProperty(events, offsets, async (sent, at) => {
        const text = sent
          .map((e, i) =>
            i % 3 === 0
              ? `: keep-alive\r\nevent: ${e.event}\r\ndata: ${e.data}\r\n\r\n`
              : i % 3 === 1
                ? `event:${e.event}\ndata: ${e.data}\ndata: more\n\n`
                : `data: ${e.data}\n\n`,
          )
          .join("");
        const parsed = await parse(cut(text, at));
        assert.deepEqual(
          parsed.map(({ event, data }) => ({ event, data })),
          sent.map((e, i) =>
            i % 3 === 0
              ? e
              : i % 3 === 1
                ? { event: e.event, data: `${e.data}\nmore` }
                : { event: "message", data: e.data },
          ),
        );
        // None of these is the one block shape kept as it came.
        assert.ok(parsed.every((event) => event.raw === undefined));
      }),
    );
  });

  test("a stream cut before its blank line still yields its last event", async () => {
    const parsed = await parse(["event: message_stop\ndata: {}"]);
    assert.deepEqual(
      parsed.map(({ event, data }) => ({ event, data })),
      [{ event: "message_stop", data: "{}" }],
    );
  });
});
