/**
 * Observes an Anthropic event stream and keeps the usage it reports. Input and cache counts
 * arrive in message_start; output is estimated from the deltas as they flow (so a stream cut
 * short is charged for what was produced) and replaced by the cumulative `usage` of
 * message_delta, which is authoritative when it arrives. Only the few events that carry usage
 * or an error are parsed: deltas, the bulk of a stream, are measured by their length.
 */

import type { SseEvent, StopReason, Usage } from "./anthropic.ts";
import { estimateTextTokens } from "./tokens/estimate.ts";

/** The JSON around a delta's text: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`. */
const DELTA_FRAMING = 80;

/** Output characters a content_block_delta carries, read from its length without parsing. */
export function deltaCharacters(data: string): number {
  // Signatures are not output the model wrote; they are long and must not be counted.
  if (data.includes('"signature_delta"')) return 0;
  return Math.max(1, data.length - DELTA_FRAMING);
}

interface UsageFields {
  input_tokens?: number | null;
  output_tokens?: number | null;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
  cache_creation?: { ephemeral_1h_input_tokens?: number | null } | null;
}

export class UsageMeter {
  readonly usage: Usage = {
    input_tokens: 0,
    output_tokens: 0,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
  };
  stopReason: StopReason | null = null;
  /** Set when the stream carried an error event; the payload's error type. */
  errorType: string | null = null;
  errorMessage: string | null = null;
  completed = false;
  /** Estimated from deltas: characters seen, and how many deltas carried them. */
  private countedCharacters = 0;
  private countedDeltas = 0;
  private reportedOutput = false;

  /** The output tokens to charge: reported if the upstream said so, else what was counted. */
  get outputTokens(): number {
    return this.reportedOutput
      ? this.usage.output_tokens
      : Math.max(this.usage.output_tokens, this.countedOutput());
  }

  /** Each delta is at least one token; beyond that, the characters' estimate. */
  private countedOutput(): number {
    return Math.max(this.countedDeltas, estimateTextTokens(this.countedCharacters));
  }

  observe(event: SseEvent): void {
    switch (event.event) {
      case "message_start": {
        const payload = JSON.parse(event.data) as { message?: { usage?: UsageFields } };
        this.apply(payload.message?.usage);
        break;
      }
      case "content_block_delta": {
        const characters = deltaCharacters(event.data);
        if (characters > 0) {
          this.countedCharacters += characters;
          this.countedDeltas++;
        }
        break;
      }
      case "message_delta": {
        const payload = JSON.parse(event.data) as {
          delta?: { stop_reason?: StopReason | null };
          usage?: UsageFields;
        };
        this.apply(payload.usage);
        if (typeof payload.usage?.output_tokens === "number") this.reportedOutput = true;
        this.stopReason = payload.delta?.stop_reason ?? this.stopReason;
        break;
      }
      case "message_stop":
        this.completed = true;
        break;
      case "error": {
        const payload = JSON.parse(event.data) as { error?: { type?: string; message?: string } };
        this.errorType = payload.error?.type ?? "api_error";
        this.errorMessage = payload.error?.message ?? null;
        break;
      }
    }
  }

  /** Takes the usage of a complete (non-streamed) message. */
  observeMessage(usage: UsageFields, stopReason: StopReason | null): void {
    this.apply(usage);
    this.reportedOutput = true;
    this.stopReason = stopReason;
    this.completed = true;
  }

  private apply(fields: UsageFields | undefined): void {
    if (!fields) return;
    const usage = this.usage;
    if (typeof fields.input_tokens === "number") usage.input_tokens = fields.input_tokens;
    if (typeof fields.output_tokens === "number") usage.output_tokens = fields.output_tokens;
    if (typeof fields.cache_creation_input_tokens === "number") {
      usage.cache_creation_input_tokens = fields.cache_creation_input_tokens;
    }
    if (typeof fields.cache_read_input_tokens === "number") {
      usage.cache_read_input_tokens = fields.cache_read_input_tokens;
    }
    const oneHour = fields.cache_creation?.ephemeral_1h_input_tokens;
    if (typeof oneHour === "number") usage.cache_creation_1h_input_tokens = oneHour;
  }
}
