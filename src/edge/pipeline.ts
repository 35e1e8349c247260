/**
 * One request pipeline for every generation endpoint. A surface (Messages, Chat Completions,
 * Responses) only says how its body is validated and translated to the Anthropic shape the
 * gateway works in, how it streams, and how a finished message looks in its own format. The
 * stages run in the same order for all of them, composed here once, top to bottom:
 *
 *   authenticate (auth.ts, before the body is read) → validate and translate (the surface) →
 *   route → shed → limit → call → relay or collect (relay.ts) → outcome (exactly once)
 *
 * each stage a module of its own under stages/, the exchange (exchange.ts) holding the
 * request's state between them.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import type { z } from "zod";
import { asHeadroomError, HeadroomError } from "../common/errors.ts";
import type { Message, MessagesRequest } from "../protocol/anthropic.ts";
import { validateBody } from "../protocol/validate.ts";
import type { MessageCall } from "../upstreams/upstream.ts";
import { identityOf } from "./auth.ts";
import { CLIENT_CLOSED, Exchange } from "./exchange.ts";
import { collectMessage, relayStream, type StreamFormat, unrecorded } from "./relay.ts";
import type { EdgeServices } from "./services.ts";
import { call } from "./stages/call.ts";
import { limit } from "./stages/limit.ts";
import { route } from "./stages/route.ts";
import { shed } from "./stages/shed.ts";
import type { ExchangeServices } from "./stages/state.ts";

export interface Surface<Schema extends z.ZodType, Context> {
  /** Which family of envelopes and rate-limit headers the client expects. */
  endpoint: "anthropic" | "openai";
  /** The body is already in the gateway's shape, so its text can go upstream unchanged. */
  passthrough: boolean;
  schema: Schema;
  /** The request in the gateway's shape, and what the surface needs to answer in its own. */
  translate(body: z.infer<Schema>): { request: MessagesRequest; context: Context };
  /** Client headers passed on to the upstream. */
  forwardedHeaders(request: FastifyRequest): Record<string, string>;
  stream(context: Context): StreamFormat;
  /** Response headers of a stream besides the rate-limit ones. */
  streamHeaders(requestId: string): Record<string, string>;
  /**
   * A whole message (non-streaming request) in the surface's format; `native` is the upstream's
   * own answer when it speaks the surface's protocol (see `native` below).
   */
  answer(message: Message, context: Context, native: unknown): unknown;
  /** The request in the surface's own protocol, for upstreams that take it as it came. */
  native?(body: z.infer<Schema>): MessageCall["native"];
}

export function generationHandler<Schema extends z.ZodType, Context>(
  gateway: ExchangeServices & Pick<EdgeServices, "identities">,
  surface: Surface<Schema, Context>,
): (request: FastifyRequest, reply: FastifyReply) => Promise<unknown> {
  return async (request, reply) => {
    const identity = identityOf(request);
    // While the ledger cannot take more (its store refusing writes, or down with its buffer
    // full), nothing new is served: usage that cannot be recorded would be lost.
    if (gateway.ledger.saturated || gateway.ledger.unavailable !== undefined) {
      throw new HeadroomError("ledger_unavailable", "Usage cannot be recorded right now; retry shortly.", {
        headers: { "retry-after": "5" },
      });
    }
    const validated = validateBody(surface.schema, request.body);
    const { request: body, context } = surface.translate(validated);
    const streamed = body.stream === true;
    const exchange = new Exchange(gateway, request.id, identity, surface.endpoint, streamed);
    // A client that leaves at any point, even before the upstream has answered, cuts the
    // upstream call at once, so nothing it held (a concurrency slot, a pool slot) outlives it.
    const onClose = () => {
      if (!reply.raw.writableEnded) exchange.abort();
    };
    reply.raw.on("close", onClose);
    try {
      const rawBody = surface.passthrough ? request.rawBody : undefined;
      const asCame = surface.native?.(validated);
      const routed = route(exchange, body, asCame);
      shed(exchange, routed);
      await limit(exchange, routed, body);
      const upstreamReply = await call(
        exchange,
        routed,
        body,
        surface.forwardedHeaders(request),
        rawBody,
        asCame,
      );
      if (streamed) {
        await relayStream(exchange, upstreamReply, request, reply, surface.stream(context), {
          ...surface.streamHeaders(request.id),
          ...exchange.rateLimitHeaders,
        });
        return reply;
      }
      const { message, native } = await collectMessage(exchange, upstreamReply, reply);
      // The ledger row is durable before the reply's first byte (docs/ledger.md); a row that
      // cannot be made durable fails the reply.
      await exchange.finish(200).catch((error: unknown) => {
        throw unrecorded(error);
      });
      reply.headers(exchange.rateLimitHeaders);
      return surface.answer(message, context, native);
    } catch (error) {
      if (reply.raw.destroyed && !reply.raw.writableEnded) {
        // Nobody is left to answer: the request ends as the client's doing (nginx's 499).
        await exchange.finish(CLIENT_CLOSED, "client_closed");
        throw error;
      }
      const failure = asHeadroomError(error);
      // Already finished when the ledger refused the row (the same promise): nothing to add.
      await exchange.finish(failure.status, failure).catch(() => undefined);
      throw error;
    } finally {
      reply.raw.off("close", onClose);
    }
  };
}
