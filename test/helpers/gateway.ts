/** Starts a real gateway on an ephemeral port with its own data directory, for one test file. */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { createGateway, type RunningGateway, startGateway } from "../../src/gateway.ts";
import type { UsageEvent } from "../../src/ledger/usage-event.ts";

export interface TestGateway extends RunningGateway {
  key: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Simulated models answer at 20,000 tokens/s with no TTFT so tests spend no time waiting. */
export function fastSimulation(config: Config): void {
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
  } = {},
): Promise<TestGateway> {
  const dataDir = mkdtempSync(join(tmpdir(), "headroom-test-"));
  const config = loadConfig({ env: options.env ?? {}, overrides: { port: 0, dataDir } });
  config.server.log_level = "silent";
  fastSimulation(config);
  options.configure?.(config);
  const gateway = createGateway(config, { env: options.env ?? {}, clock: options.clock });
  const running = await startGateway(gateway);
  const { key } = gateway.accounts.createKey("test", options.plan ?? "pro");
  return {
    ...running,
    key,
    dataDir,
    async stop() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** What the ledger recorded for a request id (after flushing), failing the test if nothing. */
export async function recordedUsage(
  server: TestGateway,
  requestId: string | null | undefined,
  account = "test",
): Promise<UsageEvent> {
  await server.gateway.ledger.flush();
  const events = await server.gateway.ledger.events({ account, limit: 1000 });
  const event = events.find((candidate) => candidate.request_id === requestId);
  assert.ok(event, `the ledger has request ${requestId}`);
  return event;
}
