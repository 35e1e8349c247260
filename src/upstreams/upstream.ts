/**
 * The one interface every upstream implements: the simulated GPU pool, a real Anthropic API,
 * and OpenAI-compatible servers. Requests and replies are in the Anthropic shape; the OpenAI
 * edge and the OpenAI-compatible upstream translate at their borders.
 */
import type { Message, MessagesRequest, SseEvent } from "../protocol/anthropic.ts";
import type { ResolvedModel } from "./routing.ts";

export interface MessageCall {
  /** The validated request, unknown fields kept for passthrough. */
  body: MessagesRequest;
  model: ResolvedModel;
  /** Input tokens counted locally at the edge. */
  inputTokens: number;
  /** Client headers a real upstream must receive unchanged (anthropic-beta, anthropic-version). */
  headers: Record<string, string>;
  /** Aborted when the client goes away or the gateway shuts down. */
  signal: AbortSignal;
}

export type MessageReply =
  | { kind: "events"; events: AsyncIterable<SseEvent> }
  | { kind: "message"; message: Message };

export interface Upstream {
  readonly name: string;
  createMessage(call: MessageCall): Promise<MessageReply>;
  /** Counts tokens upstream when it can; otherwise the edge counts locally. */
  countTokens?(call: Omit<MessageCall, "inputTokens">): Promise<number>;
  close?(): Promise<void>;
}
