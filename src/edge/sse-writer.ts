/**
 * Writes a server-sent event stream to a raw Node response, honouring backpressure so a slow
 * client slows the producer instead of growing memory without bound.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";

export class SseWriter {
  constructor(private readonly response: ServerResponse) {}

  open(headers: Record<string, string>): void {
    this.response.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
      // Tell buffering proxies (nginx) to pass events through as they come.
      "x-accel-buffering": "no",
      ...headers,
    });
    this.response.flushHeaders();
  }

  get closed(): boolean {
    return this.response.destroyed || this.response.writableEnded;
  }

  /** Writes one chunk; resolves when the socket can take more. */
  async write(chunk: string): Promise<void> {
    if (this.closed) return;
    if (!this.response.write(chunk)) {
      await Promise.race([once(this.response, "drain"), once(this.response, "close")]);
    }
  }

  /** `event: <type>\ndata: <json>\n\n` (Anthropic). */
  event(event: string, data: string): Promise<void> {
    return this.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  /** `data: <json>\n\n` (OpenAI). */
  data(data: string): Promise<void> {
    return this.write(`data: ${data}\n\n`);
  }

  end(): void {
    if (!this.closed) this.response.end();
  }
}
