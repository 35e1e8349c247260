/**
 * The real OpenAI Codex CLI through headroom, configured as a user would (a custom provider
 * with `wire_api = "responses"`). The CLI is a ~400 MB native download, so it is not a
 * dependency: set CODEX_BIN to its path (or put `codex` on PATH) to run this file; otherwise
 * it is skipped and says why. The fixture-based tests in responses-api.test.ts always run.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { startTestGateway, type TestGateway } from "../helpers/gateway.ts";

function findCodex(): string | undefined {
  if (process.env.CODEX_BIN) return process.env.CODEX_BIN;
  const found = spawnSync("sh", ["-c", "command -v codex"], { encoding: "utf8" });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const codex = findCodex();
if (!codex) console.warn("skipping the Codex CLI test: set CODEX_BIN or put codex on PATH");

/** Runs `codex exec` against the gateway; resolves with its exit code and output. */
function codexExec(bin: string, home: string, key: string, prompt: string) {
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(bin, ["exec", "--skip-git-repo-check", prompt], {
      cwd: home,
      env: { PATH: process.env.PATH, HOME: home, CODEX_HOME: join(home, ".codex"), HEADROOM_KEY: key },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}

describe("the OpenAI Codex CLI through headroom, unmodified", { skip: !codex && "no Codex CLI here" }, () => {
  let server: TestGateway;
  let home: string;

  before(async () => {
    server = await startTestGateway();
    home = mkdtempSync(join(tmpdir(), "headroom-codex-"));
    mkdirSync(join(home, ".codex"));
    writeFileSync(
      join(home, ".codex", "config.toml"),
      [
        'model = "gpt-5.5"',
        'model_provider = "headroom"',
        "[model_providers.headroom]",
        'name = "headroom"',
        `base_url = "${server.url}/v1"`,
        'env_key = "HEADROOM_KEY"',
        'wire_api = "responses"',
      ].join("\n"),
    );
  });
  after(async () => {
    await server.stop();
    rmSync(home, { recursive: true, force: true });
  });

  test("a tool-using turn: the CLI runs the call it was given and gets a text answer; every request is recorded", async () => {
    const { code, output } = await codexExec(codex as string, home, server.key, "please call exec_command");
    assert.equal(code, 0, output);
    assert.match(output, /tokens used/);
    await server.gateway.ledger.flush();
    const events = await server.gateway.ledger.events({ account: "test", limit: 100 });
    assert.ok(events.length >= 2, "a call, then the turn carrying its output");
    for (const event of events) {
      assert.equal(event.model, "gpt-5.5");
      assert.equal(event.status, 200);
    }
    const [first, second] = [...events].sort((a, b) => a.at_ms - b.at_ms);
    assert.ok((second?.input_tokens ?? 0) > (first?.input_tokens ?? 0), "the second turn carries the first");
  });
});
