/**
 * Stage 4, call: the upstream, with the model id it knows. The client's bytes go as they came
 * when the id needs no rewriting, which spares serializing and encoding a large prompt again.
 */
import type { MessagesRequest } from "../../protocol/anthropic.ts";
import type { MessageCall, MessageReply } from "../../upstreams/upstream.ts";
import type { Routed } from "./route.ts";
import type { RequestState } from "./state.ts";

export function call(
  exchange: RequestState,
  { model, upstream }: Routed,
  body: MessagesRequest,
  headers: Record<string, string>,
  rawBody?: Uint8Array,
  native?: MessageCall["native"],
): Promise<MessageReply> {
  const renamed = model.upstreamModel !== body.model;
  const span = exchange.span;
  return upstream.createMessage({
    body: renamed ? { ...body, model: model.upstreamModel } : body,
    rawBody: renamed ? undefined : rawBody,
    model,
    inputTokens: exchange.inputTokens,
    headers,
    signal: exchange.controller.signal,
    placed: span && ((deployment) => span.setAttribute("headroom.deployment", deployment)),
    native,
  });
}
