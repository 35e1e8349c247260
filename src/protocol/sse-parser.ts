/**
 * Incremental parser for a text/event-stream body (https://html.spec.whatwg.org/#event-stream-interpretation):
 * feeds on chunks as they arrive and yields complete events without buffering the stream.
 */
import type { SseEvent } from "./anthropic.ts";

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
