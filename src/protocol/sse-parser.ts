/**
 * Incremental parser for a text/event-stream body (https://html.spec.whatwg.org/#event-stream-interpretation):
 * feeds on chunks as they arrive and yields complete events without buffering the stream.
 */
import type { SseEvent } from "./anthropic.ts";

const LF = 10;
const CR = 13;

/**
 * The block every Anthropic-compatible server sends, `event: <name>\ndata: <json>\n\n` with LF
 * endings, taken whole at `start`: two slices and the block's own text (`raw`, so a client of
 * the same protocol gets the upstream's bytes without the event being built again). Anything
 * else (CRLF, comments, multi-line data, a missing name, a block not yet complete) is left to
 * the line-by-line parser.
 */
function wholeEvent(buffer: string, start: number): { event: SseEvent; next: number } | undefined {
  if (!buffer.startsWith("event: ", start)) return undefined;
  const nameEnd = buffer.indexOf("\n", start + 7);
  if (nameEnd <= start + 7 || buffer.charCodeAt(nameEnd - 1) === CR) return undefined;
  if (!buffer.startsWith("data: ", nameEnd + 1)) return undefined;
  const dataEnd = buffer.indexOf("\n", nameEnd + 7);
  if (dataEnd < 0 || buffer.charCodeAt(dataEnd + 1) !== LF || buffer.charCodeAt(dataEnd - 1) === CR)
    return undefined;
  const next = dataEnd + 2;
  return {
    event: {
      event: buffer.slice(start + 7, nameEnd),
      data: buffer.slice(nameEnd + 7, dataEnd),
      raw: buffer.slice(start, next),
    },
    next,
  };
}

export async function* parseSse(body: AsyncIterable<Uint8Array | string>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = "";
  let event = "";
  let data: string[] = [];
  const flush = (): SseEvent | undefined => {
    if (data.length === 0) {
      event = "";
      return undefined;
    }
    const parsed = { event: event || "message", data: data.join("\n") };
    event = "";
    data = [];
    return parsed;
  };
  const handleLine = (line: string): SseEvent | undefined => {
    if (line === "") return flush();
    if (line.startsWith(":")) return undefined;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
    return undefined;
  };
  for await (const chunk of body) {
    buffer += typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true });
    let start = 0;
    for (;;) {
      if (event === "" && data.length === 0) {
        const whole = wholeEvent(buffer, start);
        if (whole) {
          start = whole.next;
          yield whole.event;
          continue;
        }
      }
      const newline = buffer.indexOf("\n", start);
      if (newline < 0) break;
      let line = buffer.slice(start, newline);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      start = newline + 1;
      const parsed = handleLine(line);
      if (parsed) yield parsed;
    }
    buffer = buffer.slice(start);
  }
  buffer += decoder.decode();
  if (buffer.length > 0) {
    const parsed = handleLine(buffer);
    if (parsed) yield parsed;
  }
  const last = flush();
  if (last) yield last;
}
