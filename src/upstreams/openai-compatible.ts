/**
 * An OpenAI-compatible server (vLLM, SGLang, llama.cpp, OpenAI itself) as upstream. Requests
 * arrive in the Anthropic shape and are translated; replies are translated back, streams chunk
 * by chunk, so the Anthropic endpoint can be served by any of these engines.
 */
import type { Agent } from "undici";
import type { OpenAIUpstreamConfig } from "../config/schema.ts";
import type { SseEvent } from "../protocol/anthropic.ts";
import { messagesToChatRequest } from "../protocol/translate/chat-request.ts";
import { completionToMessage } from "../protocol/translate/chat-response.ts";
import { ChatChunksToAnthropic } from "../protocol/translate/chat-stream.ts";
import { meterResponsesEvent, responseToMeteredMessage } from "../protocol/translate/responses-meter.ts";
import {
  headersTimeout,
  httpError,
  joinUrl,
  postJson,
  probe,
  timedSse,
  transportError,
  upstreamAgent,
  upstreamKey,
} from "./http.ts";
import type { MessageCall, MessageReply, Upstream } from "./upstream.ts";

export class OpenAICompatibleUpstream implements Upstream {
  private readonly agent: Agent;
  private readonly key: string | undefined;

  constructor(
    readonly name: string,
    private readonly config: OpenAIUpstreamConfig,
    env: NodeJS.ProcessEnv,
  ) {
    this.agent = upstreamAgent(config);
    this.key = upstreamKey(config, env);
  }

  speaks(protocol: string): boolean {
    return protocol === "responses" && this.config.responses === true;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.key) headers.authorization = `Bearer ${this.key}`;
    return headers;
  }

  async createMessage(call: MessageCall): Promise<MessageReply> {
    if (call.native && this.speaks(call.native.protocol)) return this.createResponse(call);
    const headers = this.headers();
    // The configured URL is the API base, as OpenAI clients take it (…/v1).
    const url = joinUrl(this.config.url, "/chat/completions");
    const chat = messagesToChatRequest(call.body, call.model.upstreamModel);
    const response = await postJson(
      this.name,
      this.agent,
      url,
      headers,
      chat,
      call.signal,
      headersTimeout(this.config, call.body.stream),
    );
    if (call.body.stream) {
      return { kind: "events", events: this.events(response.body, call) };
    }
    try {
      return {
        kind: "message",
        message: completionToMessage((await response.body.json()) as object, call.model.requested),
      };
    } catch (error) {
      throw transportError(this.name, error);
    }
  }

  private async *events(
    body: AsyncIterable<Buffer> & { destroy(): void },
    call: MessageCall,
  ): AsyncGenerator<SseEvent> {
    const translator = new ChatChunksToAnthropic(call.model.requested, call.inputTokens);
    try {
      for await (const event of timedSse(this.name, body, this.config)) {
        if (event.data === "[DONE]") {
          yield* translator.finish();
          return;
        }
        const chunk = JSON.parse(event.data);
        if (chunk.error) {
          const error = httpError(this.name, 500, event.data);
          yield {
            event: "error",
            data: JSON.stringify({ type: "error", error: { type: error.type, message: error.message } }),
          };
          return;
        }
        yield* translator.translate(chunk);
      }
      // No [DONE]: the upstream cut the stream; the relay reports the incomplete message.
    } catch (error) {
      throw transportError(this.name, error);
    } finally {
      body.destroy();
    }
  }

  /** A Responses request passed through as the client sent it (only the model id is the upstream's). */
  private async createResponse(call: MessageCall): Promise<MessageReply> {
    const body: Record<string, unknown> = { ...call.native?.body, model: call.model.upstreamModel };
    const url = joinUrl(this.config.url, "/responses");
    const response = await postJson(
      this.name,
      this.agent,
      url,
      this.headers(),
      body,
      call.signal,
      headersTimeout(this.config, body.stream === true),
    );
    if (body.stream === true) return { kind: "events", events: this.responseEvents(response.body, call) };
    try {
      const native = (await response.body.json()) as Record<string, unknown>;
      return { kind: "message", message: responseToMeteredMessage(native, call.model.requested), native };
    } catch (error) {
      throw transportError(this.name, error);
    }
  }

  private async *responseEvents(
    body: AsyncIterable<Buffer> & { destroy(): void },
    call: MessageCall,
  ): AsyncGenerator<SseEvent> {
    try {
      for await (const event of timedSse(this.name, body, this.config)) {
        yield* meterResponsesEvent(event, call.inputTokens);
      }
    } catch (error) {
      throw transportError(this.name, error);
    } finally {
      body.destroy();
    }
  }

  probe(timeoutMs: number): Promise<void> {
    const headers: Record<string, string> = this.key ? { authorization: `Bearer ${this.key}` } : {};
    return probe(this.name, this.agent, joinUrl(this.config.url, "/models"), headers, timeoutMs);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
