/**
 * A real Anthropic Messages API (or any server that speaks it) as upstream. The request body
 * goes out as the client sent it (unknown fields included) with the client's anthropic-version
 * and anthropic-beta headers; streams come back event by event as they arrive.
 */
import type { Agent } from "undici";
import type { AnthropicUpstreamConfig } from "../config/schema.ts";
import type { Message, SseEvent } from "../protocol/anthropic.ts";
import {
  headersTimeout,
  joinUrl,
  postJson,
  probe,
  timedSse,
  transportError,
  upstreamAgent,
  upstreamKey,
} from "./http.ts";
import type { MessageCall, MessageReply, Upstream } from "./upstream.ts";

const DEFAULT_VERSION = "2023-06-01";

export class AnthropicUpstream implements Upstream {
  private readonly agent: Agent;
  private readonly key: string | undefined;

  constructor(
    readonly name: string,
    private readonly config: AnthropicUpstreamConfig,
    env: NodeJS.ProcessEnv,
  ) {
    this.agent = upstreamAgent(config);
    this.key = upstreamKey(config, env);
  }

  private headers(call: Pick<MessageCall, "headers">): Record<string, string> {
    const headers: Record<string, string> = {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      "anthropic-version": call.headers["anthropic-version"] ?? DEFAULT_VERSION,
    };
    if (call.headers["anthropic-beta"]) headers["anthropic-beta"] = call.headers["anthropic-beta"];
    if (this.key) headers["x-api-key"] = this.key;
    return headers;
  }

  private post(path: string, call: Pick<MessageCall, "headers" | "signal">, body: unknown, stream?: boolean) {
    return postJson(
      this.name,
      this.agent,
      joinUrl(this.config.url, path),
      this.headers(call),
      body,
      call.signal,
      headersTimeout(this.config, stream),
    );
  }

  async createMessage(call: MessageCall): Promise<MessageReply> {
    const response = await this.post("/v1/messages", call, call.rawBody ?? call.body, call.body.stream);
    if (call.body.stream) return { kind: "events", events: this.events(response.body) };
    try {
      return { kind: "message", message: (await response.body.json()) as Message };
    } catch (error) {
      throw transportError(this.name, error);
    }
  }

  private async *events(body: AsyncIterable<Buffer> & { destroy(): void }): AsyncGenerator<SseEvent> {
    try {
      yield* timedSse(this.name, body, this.config);
    } catch (error) {
      throw transportError(this.name, error);
    } finally {
      body.destroy();
    }
  }

  async countTokens(call: Omit<MessageCall, "inputTokens">): Promise<number> {
    const { max_tokens: _ignored, stream: _stream, ...body } = call.body;
    const response = await this.post("/v1/messages/count_tokens", call, body);
    const parsed = (await response.body.json()) as { input_tokens?: number };
    return parsed.input_tokens ?? 0;
  }

  probe(timeoutMs: number): Promise<void> {
    const { "content-type": _json, ...headers } = this.headers({ headers: {} });
    return probe(this.name, this.agent, joinUrl(this.config.url, "/v1/models"), headers, timeoutMs);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
