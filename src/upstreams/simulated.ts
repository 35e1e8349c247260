/**
 * The simulated GPU pool: the embedded default upstream that makes headroom useful offline.
 * It answers in the exact Anthropic stream format, at each model's decode speed and time to
 * first token, with a bounded number of concurrent sequences and a queue (see SlotPool).
 * Output is deterministic for a given prompt (see simulated-text.ts).
 */
import { setTimeout as sleep } from "node:timers/promises";
import { upstreamFailed } from "../common/errors.ts";
import { newMessageId, newToolUseId } from "../common/ids.ts";
import type { SimulatedUpstreamConfig, SimulationProfile } from "../config/schema.ts";
import { type SseEvent, type StopReason, sseEvent } from "../protocol/anthropic.ts";
import { countRequestTokens, countTextTokens } from "../protocol/tokens/count.ts";
import {
  chooseTool,
  generatePieces,
  hashString,
  lastUserMessage,
  messageText,
  replyLength,
  sampleFromSchema,
  seededRandom,
} from "./simulated-text.ts";
import { SlotPool } from "./slot-pool.ts";
import type { MessageCall, MessageReply, Upstream } from "./upstream.ts";

/** A block to stream: its start payload and the delta pieces, each piece one delta event. */
interface PlannedBlock {
  start: Record<string, unknown>;
  deltaType: "text_delta" | "thinking_delta" | "input_json_delta";
  deltaField: "text" | "thinking" | "partial_json";
  pieces: string[];
  /** Thinking blocks end with a signature, as the real API sends. */
  signature?: string;
}

interface Plan {
  blocks: PlannedBlock[];
  stopReason: StopReason;
}

/** Decides what the reply contains, before any timing. Pure given the request. */
export function planReply(call: MessageCall, profile: SimulationProfile): Plan {
  const { body } = call;
  const last = lastUserMessage(body);
  const text = last ? messageText(last) : "";
  const seed = hashString(`${call.model.requested}\u0000${text}\u0000${body.messages.length}`);
  const random = seededRandom(seed);
  let budget = body.max_tokens;
  const blocks: PlannedBlock[] = [];

  const thinking = body.thinking as { type: string; budget_tokens?: number } | undefined;
  if (thinking && thinking.type !== "disabled") {
    const length = Math.min(
      budget,
      Math.max(1, Math.floor(replyLength(text, profile.output_tokens, seed) / 3)),
    );
    blocks.push({
      start: { type: "thinking", thinking: "" },
      deltaType: "thinking_delta",
      deltaField: "thinking",
      pieces: generatePieces(random, length),
      signature: Buffer.from(`headroom-sim-${seed}`).toString("base64"),
    });
    budget -= length;
  }
  if (budget <= 0) return { blocks, stopReason: "max_tokens" };

  const tool = chooseTool(body);
  if (tool) {
    const input = JSON.stringify(sampleFromSchema(tool.input_schema));
    const name = tool.name;
    blocks.push({
      start: { type: "tool_use", id: newToolUseId(), name, input: {} },
      deltaType: "input_json_delta",
      deltaField: "partial_json",
      // Two deltas, as real streams split JSON; clients must join partial_json pieces.
      pieces: input.length > 2 ? [input.slice(0, 1), input.slice(1)] : [input],
    });
    return { blocks, stopReason: "tool_use" };
  }

  const wanted = replyLength(text, profile.output_tokens, seed);
  const length = Math.min(budget, wanted);
  blocks.push({
    start: { type: "text", text: "" },
    deltaType: "text_delta",
    deltaField: "text",
    pieces: generatePieces(random, length),
  });
  return { blocks, stopReason: length < wanted ? "max_tokens" : "end_turn" };
}

/** Tokens per delta event: real servers flush a few tokens at a time. */
const PIECES_PER_DELTA_MAX = 8;

/** Where a fleet-backed pool takes its size and speeds from (see capacity/fleet-capacity.ts). */
export interface FleetSizing {
  /** Concurrent streams at `nowMs`. */
  streamsAt(nowMs: number): number;
  /** Decode tokens/s of one stream of a model family at `nowMs`; 0 if the fleet does not serve it. */
  streamRateAt(nowMs: number, family: string): number;
  /** Prompt tokens/s one idle replica of a family prefills at `nowMs`; 0 if not known. */
  prefillRateAt?(nowMs: number, family: string): number;
  clock: () => number;
}

/** How the pool keeps time while it decodes: real timers, or a virtual clock in tests. */
export interface Pacer {
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

const realTime: Pacer = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, undefined, { signal }),
};

export class SimulatedUpstream implements Upstream {
  readonly pool: SlotPool;

  constructor(
    readonly name: string,
    config: SimulatedUpstreamConfig,
    private readonly fleet?: FleetSizing,
    private readonly pacer: Pacer = realTime,
  ) {
    const slots = fleet ? fleet.streamsAt(fleet.clock()) : config.slots;
    this.pool = new SlotPool(slots, config.queue, config.queue_timeout_ms);
  }

  /**
   * The model's profile, its speeds taken from the fleet when the pool follows one: decode at
   * the fleet's per-stream speed, the prompt at one replica's prefill rate, and one decode step
   * before the first token.
   */
  private profileFor(call: MessageCall): SimulationProfile | undefined {
    const profile = call.model.entry.simulation;
    if (!profile || !this.fleet) return profile;
    const now = this.fleet.clock();
    const family = call.model.entry.family;
    const rate = this.fleet.streamRateAt(now, family);
    if (rate <= 0) return profile;
    const prefill = this.fleet.prefillRateAt?.(now, family) ?? 0;
    return {
      ...profile,
      decode_tokens_per_s: rate,
      ttft_ms: 1000 / rate,
      prefill_tokens_per_s: prefill > 0 ? prefill : profile.prefill_tokens_per_s,
    };
  }

  async createMessage(call: MessageCall): Promise<MessageReply> {
    const profile = this.profileFor(call);
    if (!profile) throw upstreamFailed(`Model ${call.model.entry.id} has no simulation profile.`);
    if (this.fleet) this.pool.resize(this.fleet.streamsAt(this.fleet.clock()));
    const release = await this.pool.acquire(call.signal);
    call.signal.addEventListener("abort", release, { once: true });
    return { kind: "events", events: this.stream(call, profile, release) };
  }

  private async *stream(
    call: MessageCall,
    profile: SimulationProfile,
    release: () => void,
  ): AsyncGenerator<SseEvent> {
    try {
      const plan = planReply(call, profile);
      // The simulated GPU reports usage as a real one does: counted exactly, not the edge's estimate.
      const inputTokens = countRequestTokens(call.body);
      const ttft = profile.ttft_ms + (1000 * inputTokens) / profile.prefill_tokens_per_s;
      await this.pacer.sleep(ttft, call.signal);
      const usage = {
        input_tokens: inputTokens,
        output_tokens: 1,
        cache_creation_input_tokens: 0,
        cache_read_input_tokens: 0,
      };
      yield sseEvent({
        type: "message_start",
        message: {
          id: newMessageId(),
          type: "message",
          role: "assistant",
          model: call.model.requested,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { ...usage, service_tier: "standard" },
        },
      });
      yield sseEvent({ type: "ping" });

      let outputTokens = 0;
      const started = this.pacer.now();
      let due = 0; // pieces that should have been produced by now, across blocks
      for (const [index, block] of plan.blocks.entries()) {
        yield sseEvent({ type: "content_block_start", index, content_block: block.start });
        let next = 0;
        while (next < block.pieces.length) {
          // Piece k is due k steps after the first (1 / rate each); a hair of tolerance keeps a
          // wake-up computed for that instant from landing a rounding error short of it.
          const elapsed = (this.pacer.now() - started) / 1000;
          const produced = Math.floor(elapsed * profile.decode_tokens_per_s + 1e-9) + 1;
          if (produced <= due) {
            const wait = (1000 * (due - elapsed * profile.decode_tokens_per_s)) / profile.decode_tokens_per_s;
            await this.pacer.sleep(Math.max(1, wait), call.signal);
            continue;
          }
          const take = Math.min(produced - due, PIECES_PER_DELTA_MAX, block.pieces.length - next);
          const piece = block.pieces.slice(next, next + take).join("");
          next += take;
          due += take;
          outputTokens += countTextTokens(piece);
          yield sseEvent({
            type: "content_block_delta",
            index,
            delta: { type: block.deltaType, [block.deltaField]: piece },
          });
        }
        if (block.signature) {
          yield sseEvent({
            type: "content_block_delta",
            index,
            delta: { type: "signature_delta", signature: block.signature },
          });
        }
        yield sseEvent({ type: "content_block_stop", index });
      }
      yield sseEvent({
        type: "message_delta",
        delta: { stop_reason: plan.stopReason, stop_sequence: null },
        usage: { ...usage, output_tokens: Math.max(outputTokens, 1) },
      });
      yield sseEvent({ type: "message_stop" });
    } catch (error) {
      // An abort means the client left; the edge accounts for what was produced.
      if (!call.signal.aborted) throw error;
    } finally {
      release();
    }
  }
}
