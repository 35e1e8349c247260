import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { runCli, startServe, writeFastConfig } from "../helpers/cli.ts";
import { waitFor } from "../helpers/wait.ts";

describe("headroom serve with keys managed from a second terminal", () => {
  let dir: string;
  let child: ChildProcess;
  /** Requests the gateway still served in the second it remembers a revoked key's identity. */
  let servedBeforeRevocationSeen = 0;
  let url: string;
  let banner: () => string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "headroom-cli-"));
    writeFastConfig(dir);
    ({
      child,
      url,
      output: banner,
    } = await startServe(["--port", "0", "--config", "fast.yaml"], { cwd: dir }));
  });
  after(async () => {
    if (child.exitCode === null) {
      child.kill("SIGTERM");
      await once(child, "exit");
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test("the banner prints the URL and how to get a key", () => {
    assert.match(banner(), /headroom is listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.match(banner(), /headroom keys create --account demo --plan pro/);
    // A first start with no HEADROOM_ADMIN_TOKEN shows the generated admin token, once.
    assert.match(banner(), /Admin token, shown only this once[^\n]*\n {2}hr-admin-\w+/);
  });

  test("a key from `keys create --json` works from both SDKs, JSON and streaming, while the server runs", async () => {
    const created = await runCli(["keys", "create", "--account", "demo", "--plan", "pro", "--json"], {
      cwd: dir,
    });
    assert.equal(created.code, 0, created.stderr);
    const { key } = JSON.parse(created.stdout) as { key: string };
    assert.match(key, /^sk-hr-[0-9A-Za-z]{32}$/);

    const anthropic = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0 });
    const message = await anthropic.messages.create({
      model: "claude-sonnet-4-6",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(message.usage.output_tokens, 10);
    const streamed = await anthropic.messages
      .stream({ model: "claude-sonnet-4-6", max_tokens: 10, messages: [{ role: "user", content: "hi" }] })
      .finalMessage();
    assert.equal(streamed.usage.output_tokens, 10);

    const openai = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0 });
    const completion = await openai.chat.completions.create({
      model: "claude-sonnet-4-6",
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    assert.equal(completion.usage?.completion_tokens, 10);
    let chunks = 0;
    for await (const _chunk of await openai.chat.completions.create({
      model: "claude-sonnet-4-6",
      max_tokens: 10,
      stream: true,
      messages: [{ role: "user", content: "hi" }],
    })) {
      chunks++;
    }
    assert.ok(chunks >= 3);

    const list = await runCli(["keys", "list", "--json"], { cwd: dir });
    const keys = JSON.parse(list.stdout) as Array<{
      id: string;
      account: string;
      plan: string;
      prefix: string;
    }>;
    assert.equal(keys.length, 1);
    assert.equal(keys[0]?.account, "demo");
    assert.ok(!list.stdout.includes(key), "listings never show the key itself");

    const revoked = await runCli(["keys", "revoke", keys[0]?.id ?? ""], { cwd: dir });
    assert.equal(revoked.code, 0, revoked.stderr);
    // Gateways remember an identity for a second (accounts/identity-cache.ts, tested with an
    // injected clock): wait for the revocation to be seen rather than for a time.
    await waitFor(
      async () => {
        try {
          await anthropic.messages.create({
            model: "claude-sonnet-4-6",
            max_tokens: 10,
            messages: [{ role: "user", content: "hi" }],
          });
          servedBeforeRevocationSeen++;
          return false;
        } catch (error) {
          if (error instanceof Anthropic.AuthenticationError) return true;
          throw error;
        }
      },
      "the revoked key to be refused",
      { intervalMs: 50 },
    );
  });

  test("`headroom usage` in another process sees every complete response at once", async () => {
    // A response's end waits for its ledger row to be committed, so there is nothing to wait for.
    type Row = { model: string; requests: number; output_tokens: number; errors: number; cost_usd: number };
    // Four requests, and those served in the moment before the gateway saw the revocation.
    const expected = 4 + servedBeforeRevocationSeen;
    const usage = await runCli(["usage", "--account", "demo", "--json"], { cwd: dir });
    assert.equal(usage.code, 0, usage.stderr);
    const sonnet = (JSON.parse(usage.stdout) as Row[]).find((r) => r.model === "claude-sonnet-4-6");
    assert.equal(sonnet?.requests, expected, "the 401 after revocation is not usage");
    assert.equal(sonnet?.output_tokens, 10 * expected);
    assert.ok((sonnet?.cost_usd ?? 0) > 0);
    const table = await runCli(["usage"], { cwd: dir });
    assert.match(table.stdout, /account\s+model\s+requests.*cost/);
  });

  test("SIGTERM shuts down cleanly with exit code 0", async () => {
    child.kill("SIGTERM");
    const [code] = await once(child, "exit");
    assert.equal(code, 0);
  });
});

describe("CLI errors", () => {
  test("an unknown plan is refused with the list of plans", async () => {
    const dir = mkdtempSync(join(tmpdir(), "headroom-cli-"));
    const result = await runCli(["keys", "create", "--account", "x", "--plan", "gold"], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown plan "gold"; known plans: pro, max-5x/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("a bad config file is refused with the file, the path inside it and what is wrong", async () => {
    const dir = mkdtempSync(join(tmpdir(), "headroom-cli-"));
    writeFileSync(join(dir, "bad.yaml"), "server:\n  port: high\n");
    const result = await runCli(["serve", "--config", "bad.yaml"], { cwd: dir });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.yaml: server\.port: /);
    rmSync(dir, { recursive: true, force: true });
  });
});
