/** Starts a real gateway on an ephemeral port with its own data directory, for one test file. */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import type { Logger } from "pino";
import { loadConfig } from "../../src/config/load.ts";
import {
  type Config,
  type ModelConfig,
  type UpstreamConfig,
  upstreamSchema,
} from "../../src/config/schema.ts";
import { createGateway, type RunningGateway, startGateway } from "../../src/gateway.ts";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";
import type { SseEvent } from "../../src/protocol/anthropic.ts";
import { parseSse } from "../../src/protocol/sse-parser.ts";
import { countTextTokens } from "../../src/protocol/tokens/count.ts";
import { drive } from "../../src/traffic/driver.ts";
import { type PopulationSpec, schedule } from "../../src/traffic/population.ts";
import { waitFor } from "./wait.ts";

export interface TestGateway extends RunningGateway {
  key: string;
  dataDir: string;
  /** The admin token, when the test gave it or this start generated it. */
  adminToken: string | undefined;
  stop(): Promise<void>;
}

/** A catalog entry for a test: the fields every model has, then these. */
export function catalogModel(id: string, fields: Partial<ModelConfig> & { upstream: string }): ModelConfig {
  return { id, display_name: id, created_at: "2026-01-01T00:00:00Z", family: "fake", aliases: [], ...fields };
}

/** An Anthropic or OpenAI-compatible upstream's settings, with the defaults a config file would get. */
export function httpUpstream(
  fields: { type: "anthropic" | "openai"; url: string } & Record<string, unknown>,
): UpstreamConfig {
  return upstreamSchema.parse(fields);
}

/** A fake OpenAI-compatible server as upstream `vllm`, serving the catalog model `llama` under Meta's id. */
export function serveLlamaFrom(config: Config, upstreamUrl: string): void {
  config.upstreams.vllm = httpUpstream({
    type: "openai",
    url: `${upstreamUrl}/v1`,
    api_key: "vllm-key",
    timeout_ms: 5000,
  });
  config.models.push(
    catalogModel("llama", {
      family: "llama",
      upstream: "vllm",
      upstream_model: "meta-llama/Llama-3.3-70B-Instruct",
    }),
  );
}

/**
 * Simulated models answer at 20,000 tokens/s with no TTFT so tests spend no time waiting; the
 * embedded fleet, which would set the pool's speeds back to a real fleet's, is dropped (tests of
 * the fleet-sized pool configure `capacity` themselves).
 */
export function fastSimulation(config: Config): void {
  config.capacity = undefined;
  for (const model of config.models) {
    if (model.simulation) model.simulation = { ...model.simulation, decode_tokens_per_s: 20_000, ttft_ms: 0 };
  }
}

export async function startTestGateway(
  options: {
    configure?: (config: Config) => void;
    env?: NodeJS.ProcessEnv;
    clock?: () => number;
    plan?: string;
    /** Receives every request's span (OpenTelemetry's in-memory exporter). */
    spanExporter?: SpanExporter;
    /** The gateway's logger (tests that read the log lines); silent by default. */
    logger?: Logger;
    /** Start on an existing data directory (a restart), with the key already made there. */
    restart?: { dataDir: string; key: string };
  } = {},
): Promise<TestGateway> {
  const dataDir = options.restart?.dataDir ?? mkdtempSync(join(tmpdir(), "headroom-test-"));
  const config = loadConfig({ env: options.env ?? {}, overrides: { port: 0, dataDir } });
  config.server.log_level = "silent";
  fastSimulation(config);
  options.configure?.(config);
  const gateway = await createGateway(config, {
    env: options.env ?? {},
    clock: options.clock,
    spanExporter: options.spanExporter,
    logger: options.logger,
  });
  const running = await startGateway(gateway);
  const key = options.restart?.key ?? (await gateway.accounts.createKey("test", options.plan ?? "pro")).key;
  return {
    ...running,
    key,
    dataDir,
    adminToken: options.env?.HEADROOM_ADMIN_TOKEN ?? gateway.adminToken.generated,
    async stop() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** One limit as GET /v1/headroom/limits shows it. */
export interface LimitView {
  name: string;
  unit: string;
  limit: number;
  remaining: number;
  resets_at: string;
}

/** A key's limits by name, as the gateway at `url` (a TestGateway or a URL) shows them to the key. */
export async function windowsOf(
  target: TestGateway | string,
  key = typeof target === "string" ? "" : target.key,
  model = "claude-sonnet-4-6",
): Promise<Record<string, LimitView>> {
  const url = typeof target === "string" ? target : target.url;
  const response = await fetch(`${url}/v1/headroom/limits?model=${model}`, { headers: { "x-api-key": key } });
  assert.equal(response.status, 200);
  const view = (await response.json()) as { limits: LimitView[] };
  return Object.fromEntries(view.limits.map((limit) => [limit.name, limit]));
}

/** The gateway's /metrics text, scraped with the admin token as Prometheus would be configured. */
export async function scrapeMetrics(server: TestGateway): Promise<string> {
  assert.ok(server.adminToken, "the test knows the admin token");
  const response = await fetch(`${server.url}/metrics`, {
    headers: { authorization: `Bearer ${server.adminToken}` },
  });
  assert.equal(response.status, 200);
  return response.text();
}

/** POST /v1/messages with the test key and a JSON body, as a client without an SDK would. */
export function postMessages(
  server: TestGateway,
  body: Record<string, unknown>,
  init: { signal?: AbortSignal; headers?: Record<string, string> } = {},
): Promise<Response> {
  return fetch(`${server.url}/v1/messages`, {
    method: "POST",
    headers: { "x-api-key": server.key, "content-type": "application/json", ...init.headers },
    body: JSON.stringify(body),
    signal: init.signal,
  });
}

/** What the ledger recorded for a request id, once it is recorded (a test fails if it never is). */
export async function recordedUsage(
  server: TestGateway,
  requestId: string | null | undefined,
  account = "test",
): Promise<UsageEvent> {
  assert.ok(requestId, "the response carried a request id");
  return waitFor(async () => {
    await server.gateway.ledger.flush();
    const events = await server.gateway.ledger.events({ account, limit: 1000 });
    return events.find((candidate) => candidate.request_id === requestId);
  }, `the ledger to record request ${requestId}`);
}

/** Reads a whole SSE response: every event in order, as `event:` name and raw `data:`. */
export async function readSse(response: Response): Promise<SseEvent[]> {
  const events: SseEvent[] = [];
  for await (const event of parseSse(response.body as AsyncIterable<Uint8Array>)) events.push(event);
  return events;
}

/**
 * Streams a Sonnet reply of `tokens` tokens and disconnects once `receivedTokens` text tokens
 * have arrived, like a client that goes away mid-stream; resolves once the gateway has recorded
 * the request and let go of it.
 */
export async function streamThenDisconnect(
  server: TestGateway,
  tokens: number,
  receivedTokens: number,
  account = "test",
) {
  const controller = new AbortController();
  const response = await postMessages(
    server,
    {
      model: "claude-sonnet-4-6",
      max_tokens: tokens + 1_000,
      stream: true,
      messages: [{ role: "user", content: `sim:tokens=${tokens}` }],
    },
    { signal: controller.signal },
  );
  const requestId = response.headers.get("request-id");
  assert.equal(response.status, 200);
  let received = 0;
  try {
    for await (const event of parseSse(response.body as AsyncIterable<Uint8Array>)) {
      if (event.event === "content_block_delta")
        received += countTextTokens(JSON.parse(event.data).delta.text);
      if (received >= receivedTokens) controller.abort();
    }
  } catch (error) {
    // Our own abort surfaces as an AbortError from the body reader; anything else is a failure.
    if (!controller.signal.aborted || (error as Error).name !== "AbortError") throw error;
  }
  assert.ok(controller.signal.aborted, `the stream ended after ${received} tokens, before the disconnect`);
  const recorded = await recordedUsage(server, requestId, account);
  await waitFor(() => server.gateway.inFlight.size === 0, "the gateway to let go of the request");
  return { requestId, received, recorded };
}

/**
 * Plays a population's schedule through a gateway on its own clock: an account and key per
 * user (names `${accountPrefix}${plan}-${i}`), one request at a time, the clock set to each
 * request's instant. Returns the answers' statuses.
 */
export async function drivePopulation(
  server: TestGateway,
  spec: PopulationSpec,
  clock: { now: number },
  accountPrefix = "",
): Promise<Record<number, number>> {
  const keys = new Map<string, string>();
  for (const [planName, users] of Object.entries(spec.plans))
    for (let i = 0; i < users; i++)
      keys.set(
        `${planName}-user-${i}`,
        (await server.gateway.accounts.createKey(`${accountPrefix}${planName}-${i}`, planName)).key,
      );
  return drive(schedule(spec), {
    baseUrl: server.url,
    keyOf: (user) => keys.get(user) as string,
    concurrency: 1,
    beforeRequest: (request) => {
      clock.now = request.atMs;
    },
  });
}
