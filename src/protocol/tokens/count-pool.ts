/**
 * Exact token counts for large requests, off the event loop. Byte-pair encoding costs ≈0.7 ms
 * per 1,000 tokens, so a 10 MB prompt holds the thread for seconds: counted inline, every other
 * key's requests and /healthz would wait that long. Requests under INLINE_TOKENS (estimated) are
 * counted in place (tens of ms at most); larger ones go to one worker thread, in arrival order.
 * What may wait for it is bounded (QUEUED_TOKENS): past that the caller is told to come
 * back, not queued without end.
 */
import { extname } from "node:path";
import { Worker } from "node:worker_threads";
import { type ErrorCode, HeadroomError } from "../../common/errors.ts";
import type { CountTokensRequest } from "../anthropic.ts";
import { countRequestTokens } from "./count.ts";
import { estimateRequestTokens } from "./estimate.ts";

/** Below this many estimated tokens (≈230 kB of text, ≈40 ms of encoding) a request is counted in place. */
export const INLINE_TOKENS = 64_000;
/** Estimated tokens that may wait for the worker at once (about four 32 MB bodies' worth). */
export const QUEUED_TOKENS = 40_000_000;

/**
 * Bodies of at least this many bytes are decoded and parsed on the worker too (`countBytes`):
 * decoding and parsing hold the thread ≈3 ms per MB and copying a parsed body to the worker
 * more; bytes are copied whole in a fraction of that.
 */
export const WORKER_PARSE_BYTES = 1_000_000;
/** Bytes per token for queue accounting before a body is parsed (estimate.ts's ratio). */
const BYTES_PER_TOKEN = 3.5;

export class CounterBusyError extends Error {
  override name = "CounterBusyError";
}

interface Pending {
  resolve: (tokens: number) => void;
  reject: (error: Error) => void;
  estimated: number;
}

interface WorkerAnswer {
  id: number;
  tokens?: number;
  failure?: { code: ErrorCode; message: string; param: string | null };
  error?: string;
}

export class TokenCountPool {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private queued = 0;

  /** Requests waiting for (or being counted on) the worker. */
  get waiting(): number {
    return this.pending.size;
  }

  /** Counts inline when small, else on the worker. */
  count(request: CountTokensRequest): number | Promise<number> {
    const estimated = estimateRequestTokens(request);
    if (estimated < INLINE_TOKENS) return countRequestTokens(request);
    return this.onWorker(estimated, { request });
  }

  /**
   * Decodes, parses, validates and counts a body's JSON bytes on the worker: a body the client
   * must fix rejects with its HeadroomError (invalid_json, invalid_request), as if validated in place.
   */
  countBytes(bytes: Uint8Array): Promise<number> {
    return this.onWorker(Math.ceil(bytes.length / BYTES_PER_TOKEN), { bytes });
  }

  private onWorker(estimated: number, payload: { request: CountTokensRequest } | { bytes: Uint8Array }) {
    if (this.queued + estimated > QUEUED_TOKENS)
      return Promise.reject(new CounterBusyError("the token counter has too much waiting"));
    const worker = this.started();
    const id = ++this.next;
    this.queued += estimated;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, estimated });
      worker.ref();
      worker.postMessage({ id, ...payload });
    });
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    // The worker module beside this one: .js when built; .ts in development, where the worker
    // registers tsx's loader itself (a worker does not inherit its parent's).
    const extension = extname(new URL(import.meta.url).pathname);
    const module = new URL(`./count-worker${extension}`, import.meta.url);
    const worker =
      extension === ".ts"
        ? new Worker(
            `import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(module.href)}); });`,
            { eval: true },
          )
        : new Worker(module);
    worker.unref();
    worker.on("message", ({ id, tokens, failure, error }: WorkerAnswer) => {
      const waiting = this.pending.get(id);
      if (!waiting) return;
      this.pending.delete(id);
      this.queued -= waiting.estimated;
      if (this.pending.size === 0) worker.unref();
      if (failure) waiting.reject(new HeadroomError(failure.code, failure.message, { param: failure.param }));
      else if (error !== undefined || tokens === undefined) waiting.reject(new Error(error ?? "no count"));
      else waiting.resolve(tokens);
    });
    const fail = (error: Error) => {
      for (const waiting of this.pending.values()) waiting.reject(error);
      this.pending.clear();
      this.queued = 0;
      this.worker = undefined;
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`the token counter stopped (exit ${code})`)));
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    if (worker) await worker.terminate();
  }
}
