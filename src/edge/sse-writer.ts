/**
 * Writes a server-sent event stream to a raw Node response, honouring backpressure so a slow
 * client slows the producer instead of growing memory without bound. Events that arrive
 * together (one upstream chunk holds several) leave in one socket write: the response is
 * corked at the first and uncorked once the event loop has nothing more to give it, which
 * costs an event no more than the rest of the current loop turn.
 */
import { once } from "node:events";
import type { ServerResponse } from "node:http";

export class SseWriter {
  private corked = false;

  constructor(private readonly response: ServerResponse) {}

  private readonly uncork = (): void => {
    this.corked = false;
    this.response.uncork();
  };

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

  /**
   * Writes one chunk. Returns a promise only when the socket is full (resolving once it can
   * take more): the usual event costs no promise.
   */
  write(chunk: string): Promise<void> | undefined {
    if (this.closed) return undefined;
    if (!this.corked) {
      this.corked = true;
      this.response.cork();
      setImmediate(this.uncork);
    }
    if (this.response.write(chunk)) return undefined;
    return Promise.race([once(this.response, "drain"), once(this.response, "close")]).then(() => {});
  }

  /** `event: <type>\ndata: <json>\n\n` (Anthropic). */
  event(event: string, data: string): Promise<void> | undefined {
    return this.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  /** `data: <json>\n\n` (OpenAI). */
  data(data: string): Promise<void> | undefined {
    return this.write(`data: ${data}\n\n`);
  }

  end(): void {
    // end() flushes what is corked; the scheduled uncork then finds nothing to do.
    if (!this.closed) this.response.end();
  }
}
