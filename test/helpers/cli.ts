/**
 * Runs the real `headroom` bin as a child process. The environment's DATABASE_URL and REDIS_URL
 * (set for the test suite's own clients) are not passed on unless a test gives them: a child
 * uses its own data directory unless told otherwise, so tests never share state by accident.
 */
import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { fileURLToPath } from "node:url";

export const BIN = fileURLToPath(new URL("../../bin/headroom.js", import.meta.url));

export function childEnv(env: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const { DATABASE_URL: _database, REDIS_URL: _redis, ...rest } = process.env;
  return { ...rest, ...env };
}

export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd, env: childEnv(options.env) },
      (error, stdout, stderr) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Starts `headroom serve` and resolves once it prints its URL. */
export function startServe(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ child: ChildProcess; url: string; output: () => string }> {
  const child = spawn(process.execPath, [BIN, "serve", ...args], {
    cwd: options.cwd,
    env: childEnv(options.env),
  });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve({ child, url: match[1], output: () => output });
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}:\n${output}`));
    });
  });
}

/**
 * Writes `fast.yaml` (or `file`) into `dir`: Sonnet 4.6 simulated at 5,000 tokens/s (or
 * `tokensPerSecond`) with no time to first token, so tests through the real bin do not wait on
 * realistic decode speeds; `extra` lines (whole sections) go before the models.
 */
export function writeFastConfig(
  dir: string,
  { file = "fast.yaml", tokensPerSecond = 5_000, extra = [] as string[] } = {},
): void {
  writeFileSync(
    join(dir, file),
    [
      "server:",
      "  log_level: warn",
      ...extra,
      "models:",
      "  - id: claude-sonnet-4-6",
      "    display_name: Claude Sonnet 4.6",
      "    created_at: 2026-02-01T00:00:00Z",
      "    family: sonnet",
      "    upstream: simulated",
      `    simulation: { decode_tokens_per_s: ${tokensPerSecond}, ttft_ms: 0 }`,
    ].join("\n"),
  );
}

/**
 * `headroom serve` processes sharing one data directory and one Redis (under `redisPrefix`),
 * Sonnet simulated at 20 tokens/s (a 10,000-token reply streams for minutes) and concurrency
 * leases of `leaseMs`. Every process is SIGKILLed and the directory removed after the suite.
 */
export function slowGatewaysOnRedis(redisUrl: string, redisPrefix: string, leaseMs: number) {
  const children: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), "headroom-gateways-"));
  after(() => {
    for (const child of children) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });
  writeFastConfig(dir, {
    file: "slow.yaml",
    tokensPerSecond: 20,
    extra: ["limiter:", `  concurrency_lease_ms: ${leaseMs}`],
  });
  const env = { REDIS_URL: redisUrl, HEADROOM_REDIS_PREFIX: redisPrefix };
  return {
    /** Runs the CLI beside the gateways; its stdout, after asserting it exited 0. */
    async cli(args: string[]): Promise<string> {
      const run = await runCli([...args, "--config", "slow.yaml"], { cwd: dir, env });
      assert.equal(run.code, 0, run.stderr);
      return run.stdout;
    },
    async serve() {
      const started = await startServe(["--port", "0", "--config", "slow.yaml"], { cwd: dir, env });
      children.push(started.child);
      return started;
    },
  };
}
