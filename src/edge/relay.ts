/**
 * Moves an upstream reply to the client, for both endpoints. Streams are relayed event by
 * event as they arrive (never buffered); replies to non-streaming requests are folded into one
 * message. Either way the exchange's meter sees every event and the outcome is recorded once.
 */
import type { FastifyReply, FastifyRequest } from "fastify";
import { asHeadroomError, errorFromUpstream, HeadroomError } from "../common/errors.ts";
import { MessageAccumulator, messageToEvents } from "../protocol/accumulate.ts";
import type { Message, SseEvent } from "../protocol/anthropic.ts";
import type { MessageReply } from "../upstreams/upstream.ts";
import { CLIENT_CLOSED, type Exchange } from "./exchange.ts";
import { SseWriter } from "./sse-writer.ts";

/**
 * How an endpoint writes events in its own stream format. A method returns a promise only when
 * it must wait (the client's socket is full).
 */
export interface StreamFormat {
  event(writer: SseWriter, event: SseEvent): Promise<void> | undefined;
  error(writer: SseWriter, error: HeadroomError): Promise<void> | undefined;
  /** Called after the last event of a complete stream (OpenAI's usage chunk and [DONE]). */
  end(writer: SseWriter): Promise<void> | undefined;
}

function replyEvents(reply: MessageReply): AsyncIterable<SseEvent> | SseEvent[] {
  return reply.kind === "events" ? reply.events : messageToEvents(reply.message);
}

function interruption(exchange: Exchange): HeadroomError {
  return exchange.shuttingDown
    ? new HeadroomError("shutting_down", "The gateway is shutting down; retry the request.")
    : new HeadroomError(
        "upstream_stream_ended",
        "The upstream stream ended before the message was complete.",
      );
}

/**
 * A response whose ledger row could not be made durable (the store refusing writes) does not
 * reach its end: the client is told to retry. The row stays queued and is written when the
 * store takes writes again.
 */
export function unrecorded(error: unknown): HeadroomError {
  return new HeadroomError(
    "usage_unrecorded",
    "Usage could not be recorded, so this response was not completed; retry shortly.",
    { headers: { "retry-after": "5" }, cause: error },
  );
}

export async function relayStream(
  exchange: Exchange,
  upstreamReply: MessageReply,
  request: FastifyRequest,
  reply: FastifyReply,
  format: StreamFormat,
  headers: Record<string, string>,
): Promise<void> {
  const writer = new SseWriter(reply.raw);
  reply.hijack();
  writer.open(headers);
  const onClose = () => exchange.abort();
  reply.raw.on("close", onClose);
  let status = 200;
  let failure: HeadroomError | string | null = null;
  // The stream's last words, written only once the ledger row is durable: a client that saw
  // the end of a stream has been counted (docs/ledger.md).
  let closing: (() => Promise<void> | undefined) | undefined;
  try {
    let terminal: SseEvent | undefined;
    for await (const event of replyEvents(upstreamReply)) {
      exchange.observe(event);
      if (event.event === "message_stop") {
        terminal = event;
        continue;
      }
      const backpressure = format.event(writer, event);
      if (backpressure) await backpressure;
      if (writer.closed) break;
    }
    if (writer.closed) {
      status = CLIENT_CLOSED;
      failure = "client_closed";
    } else if (exchange.meter.errorType) {
      failure = errorFromUpstream(exchange.meter.errorType, exchange.meter.errorMessage ?? "");
      status = failure.status;
    } else if (!exchange.meter.completed) {
      const cause = interruption(exchange);
      status = cause.status;
      failure = cause;
      closing = () => format.error(writer, cause);
    } else {
      closing = async () => {
        if (terminal) await format.event(writer, terminal);
        await format.end(writer);
      };
    }
  } catch (error) {
    if (writer.closed) {
      status = CLIENT_CLOSED;
      failure = "client_closed";
    } else {
      const cause = exchange.shuttingDown ? interruption(exchange) : asHeadroomError(error);
      if (cause.status === 500) request.log.error({ err: error }, "stream failed");
      status = cause.status;
      failure = cause;
      closing = () => format.error(writer, cause);
    }
  } finally {
    reply.raw.off("close", onClose);
    try {
      let recorded = true;
      await exchange.finish(status, failure).catch((error: unknown) => {
        recorded = false;
        closing = () => format.error(writer, unrecorded(error));
      });
      if (!recorded)
        request.log.error("stream ended without its last event: its usage could not be recorded");
      if (closing && !writer.closed) await closing();
    } finally {
      writer.end();
    }
  }
}

/** Reads a whole reply into one message, for clients that did not ask for a stream. */
export async function collectMessage(
  exchange: Exchange,
  upstreamReply: MessageReply,
  reply: FastifyReply,
): Promise<{ message: Message; native?: unknown }> {
  const onClose = () => {
    if (!reply.raw.writableEnded) exchange.abort();
  };
  reply.raw.on("close", onClose);
  try {
    if (upstreamReply.kind === "message") {
      exchange.meter.observeMessage(upstreamReply.message.usage, upstreamReply.message.stop_reason);
      return { message: upstreamReply.message, native: upstreamReply.native };
    }
    const accumulator = new MessageAccumulator();
    for await (const event of upstreamReply.events) {
      exchange.observe(event);
      accumulator.observe(event);
    }
    const { meter } = exchange;
    if (meter.errorType) throw errorFromUpstream(meter.errorType, meter.errorMessage ?? "");
    const message = accumulator.result();
    if (!message || !meter.completed) throw interruption(exchange);
    return { message };
  } finally {
    reply.raw.off("close", onClose);
  }
}
