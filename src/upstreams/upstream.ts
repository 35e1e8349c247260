/**
 * The one interface every upstream implements: the simulated GPU pool, a real Anthropic API,
 * and OpenAI-compatible servers. Requests and replies are in the Anthropic shape; the OpenAI
 * edge and the OpenAI-compatible upstream translate at their borders.
 */

import type { ModelConfig } from "../config/schema.ts";
import type { Message, MessagesRequest, SseEvent } from "../protocol/anthropic.ts";

export interface MessageCall {
  /** The validated request, unknown fields kept for passthrough. */
  body: MessagesRequest;
  /**
   * `body` as the client sent it (its JSON bytes), when known: an Anthropic upstream sends them
   * unchanged, neither serialized nor encoded again.
   */
  rawBody?: Uint8Array | undefined;
  model: ResolvedModel;
  /** Input tokens estimated at the edge (tokens/estimate.ts); the upstream's own count wins. */
  inputTokens: number;
  /** Client headers a real upstream must receive unchanged (anthropic-beta, anthropic-version). */
  headers: Record<string, string>;
  /** Aborted when the client goes away or the gateway shuts down. */
  signal: AbortSignal;
  /** Told which deployment took the request, when a model has several (deployments.ts). */
  placed?: (deployment: string) => void;
  /**
   * The client's request in its own protocol, for an upstream that speaks it natively: an
   * OpenAI server with `responses: true` takes a Responses request as it came (unknown fields
   * kept); every other upstream uses `body`.
   */
  native?: NativeRequest;
}

export interface NativeRequest {
  protocol: "responses";
  body: Record<string, unknown>;
  /** What only an upstream speaking the protocol itself can serve (field, and why), if anything. */
  untranslatable?: { param: string; message: string };
}

export type MessageReply =
  | { kind: "events"; events: AsyncIterable<SseEvent> }
  /** `native`: the upstream's own answer, for a client of the same protocol (see MessageCall.native). */
  | { kind: "message"; message: Message; native?: unknown };

export interface Upstream {
  readonly name: string;
  createMessage(call: MessageCall): Promise<MessageReply>;
  /** Counts tokens upstream when it can; otherwise the edge counts locally. */
  countTokens?(call: Omit<MessageCall, "inputTokens">): Promise<number>;
  /** Whether requests in this protocol reach the upstream as they came (MessageCall.native). */
  speaks?(protocol: NativeRequest["protocol"]): boolean;
  /** An active health check (deployments.ts), for upstreams reached over the network. */
  probe?(timeoutMs: number): Promise<void>;
  /** An upstream made of deployments: each one's breaker state and load, for the live view. */
  deploymentHealth?(): DeploymentHealth[];
  close?(): Promise<void>;
}

export interface DeploymentHealth {
  /** The model the deployments serve. */
  model: string;
  deployment: string;
  state: string;
  inFlight: number;
  free: number | undefined;
  latencyMs: number | undefined;
}

/** A requested model id routed to the catalog entry and upstream that serve it (routing.ts). */
export interface ResolvedModel {
  /** The id the client asked for; responses echo it. */
  requested: string;
  entry: ModelConfig;
  upstream: string;
  /** The id sent to the upstream. */
  upstreamModel: string;
}
