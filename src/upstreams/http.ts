/** What the Anthropic and OpenAI-compatible upstreams share: a keep-alive pool, the key, error mapping. */
import { Agent, type Dispatcher, request, errors as undiciErrors } from "undici";
import { errorFromUpstream, HeadroomError, upstreamFailed, upstreamTimedOut } from "../common/errors.ts";
import type { AnthropicUpstreamConfig, OpenAIUpstreamConfig } from "../config/schema.ts";
import type { SseEvent } from "../protocol/anthropic.ts";
import { parseSse } from "../protocol/sse-parser.ts";

export function upstreamKey(
  config: AnthropicUpstreamConfig | OpenAIUpstreamConfig,
  env: NodeJS.ProcessEnv,
): string | undefined {
  if (config.api_key) return config.api_key;
  return config.api_key_env ? env[config.api_key_env] : undefined;
}

type HttpUpstreamConfig = AnthropicUpstreamConfig | OpenAIUpstreamConfig;

export function upstreamAgent(config: HttpUpstreamConfig): Agent {
  return new Agent({
    keepAliveTimeout: 30_000,
    headersTimeout: config.timeout_ms,
    // Time allowed between two chunks of a body; streams also watch whole events (timedSse).
    bodyTimeout: config.idle_timeout_ms,
    connect: { timeout: config.connect_timeout_ms },
  });
}

/** How long the upstream may take for its headers: a stream's first byte, or a whole reply. */
export function headersTimeout(config: HttpUpstreamConfig, stream: boolean | undefined): number {
  return stream ? Math.min(config.first_byte_timeout_ms, config.timeout_ms) : config.timeout_ms;
}

type UpstreamBody = AsyncIterable<Buffer> & { destroy(error?: Error): void };

/**
 * The upstream's SSE events, cut with a timeout error when the first one takes longer than
 * `first_byte_timeout_ms` or the next one longer than `idle_timeout_ms`. Only time spent
 * waiting on the upstream counts (not a slow client's), and only complete events reset the
 * clock, so an upstream trickling a byte at a time is cut too. One timer per stream.
 */
export async function* timedSse(
  name: string,
  body: UpstreamBody,
  config: HttpUpstreamConfig,
): AsyncGenerator<SseEvent> {
  let waiting = true;
  let first = true;
  const expire = () => {
    if (!waiting) return;
    const seconds = (first ? config.first_byte_timeout_ms : config.idle_timeout_ms) / 1000;
    body.destroy(
      upstreamTimedOut(
        first
          ? `Upstream ${name} sent no event within ${seconds} s.`
          : `Upstream ${name} sent no event for ${seconds} s mid-stream.`,
      ),
    );
  };
  let timer = setTimeout(expire, config.first_byte_timeout_ms);
  try {
    for await (const event of parseSse(body)) {
      waiting = false;
      if (first) {
        first = false;
        clearTimeout(timer);
        timer = setTimeout(expire, config.idle_timeout_ms);
      }
      yield event;
      waiting = true;
      timer.refresh();
    }
  } finally {
    clearTimeout(timer);
  }
}

/** Joins a base URL and a path, tolerating a trailing slash on the base. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, "")}${path}`;
}

/** Maps a transport failure (refused, reset, timed out) to a gateway error. */
export function transportError(name: string, error: unknown): HeadroomError {
  if (error instanceof HeadroomError) return error;
  if (error instanceof undiciErrors.HeadersTimeoutError || error instanceof undiciErrors.BodyTimeoutError) {
    return upstreamTimedOut(`Upstream ${name} timed out.`);
  }
  const reason =
    error instanceof Error ? ((error.cause as Error | undefined)?.message ?? error.message) : String(error);
  return upstreamFailed(`Upstream ${name} failed: ${reason}`, error);
}

/**
 * An upstream's HTTP error as a gateway error with the same status. Anthropic and OpenAI
 * envelopes both carry `error.type` and `error.message`; anything else is reported as api_error.
 */
export function httpError(name: string, status: number, text: string, retryAfter?: string): HeadroomError {
  let type = "api_error";
  let message = `Upstream ${name} answered ${status}.`;
  try {
    const parsed = JSON.parse(text) as { error?: { type?: string; message?: string } };
    if (parsed.error?.message) message = parsed.error.message;
    if (parsed.error?.type) type = parsed.error.type;
  } catch {
    // Not JSON: keep the generic message; the body may be an HTML error page.
  }
  if (status === 429) type = "rate_limit_error";
  if (status === 529 || status === 503) type = "overloaded_error";
  const error = errorFromUpstream(
    type,
    message,
    status >= 500 && status !== 529 && status !== 504 ? 502 : status,
  );
  if (retryAfter) error.headers["retry-after"] = retryAfter;
  return error;
}

/**
 * POSTs JSON (an object, or its text or bytes already serialized) to an upstream and returns the response once it is a success; transport failures
 * and HTTP errors become gateway errors with the upstream's status, type and retry-after.
 */
export async function postJson(
  name: string,
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  body: unknown,
  signal: AbortSignal,
  headersTimeoutMs?: number,
): Promise<Dispatcher.ResponseData> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: "POST",
      headers,
      body: typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body),
      signal,
      dispatcher: agent,
      headersTimeout: headersTimeoutMs,
    });
  } catch (error) {
    throw transportError(name, error);
  }
  if (response.statusCode >= 400) {
    const text = await response.body.text().catch(() => "");
    const retryAfter = response.headers["retry-after"];
    throw httpError(name, response.statusCode, text, typeof retryAfter === "string" ? retryAfter : undefined);
  }
  return response;
}

/**
 * An active health probe: GET `path` (both Anthropic and OpenAI-compatible servers answer
 * `/v1/models`) within `timeoutMs`; resolves on a 2xx, throws a gateway error otherwise.
 */
export async function probe(
  name: string,
  agent: Agent,
  url: string,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<void> {
  let response: Dispatcher.ResponseData;
  try {
    response = await request(url, {
      method: "GET",
      headers,
      dispatcher: agent,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw transportError(name, error);
  }
  const text = await response.body.text().catch(() => "");
  if (response.statusCode >= 300) throw httpError(name, response.statusCode, text);
}
