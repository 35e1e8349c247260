import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli, startServe } from "../helpers/cli.ts";

/** A local port nothing listens on (bound, noted, closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One line on stderr, exit 2, and none of Node's own dump. */
function assertOneClearLine(result: { code: number; stderr: string }, says: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, says);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  assert.doesNotMatch(result.stderr, /\n\s+at |node:internal|Error:/, "no stack, no errno dump");
}

describe("headroom serve: operator mistakes are one clear line", () => {
  let dir: string;
  const cli = (...args: string[]) => runCli([...args, "--data-dir", dir]);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "headroom-serve-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("serve on a port another server holds says so in one line and exits 2", async () => {
    const holder = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const { port } = holder.address() as AddressInfo;
    try {
      const result = await cli("serve", "--port", String(port));
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
      assert.doesNotMatch(result.stderr, /\n\s+at |EADDRINUSE/, "no stack, no errno dump");
    } finally {
      holder.close();
    }
  });

  test("a data directory that cannot be made says which and what to do", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a directory\n");
    const result = await runCli(["serve", "--port", "0", "--data-dir", join(file, "data")]);
    assertOneClearLine(
      result,
      /^headroom: cannot open the data directory .*a-file\/data \(.*\): give another --data-dir/,
    );
  });

  test("a data directory holding something that is not a headroom database says so", async () => {
    const foreign = join(dir, "foreign");
    mkdirSync(foreign);
    writeFileSync(join(foreign, "headroom.db"), "these bytes are not SQLite\n".repeat(200));
    const result = await runCli(["serve", "--port", "0", "--data-dir", foreign]);
    assertOneClearLine(
      result,
      /headroom\.db is not a usable headroom database .* Move it aside, or give another --data-dir\.$/m,
    );
  });

  test("an unreachable REDIS_URL at start says where and what to do, without its password", async () => {
    const port = await closedPort();
    const result = await runCli(["serve", "--port", "0", "--data-dir", join(dir, "redis")], {
      env: { REDIS_URL: `redis://user:hunter2@127.0.0.1:${port}` },
    });
    assertOneClearLine(
      result,
      new RegExp(
        `^headroom: Redis at redis://127\\.0\\.0\\.1:${port} did not answer .*: start it, or correct REDIS_URL`,
      ),
    );
    assert.doesNotMatch(result.stderr + result.stdout, /hunter2/);
  });

  test("an unreachable or wrong DATABASE_URL at start says so in one line", async () => {
    const port = await closedPort();
    const unreachable = await runCli(["serve", "--port", "0"], {
      env: { DATABASE_URL: `postgres://127.0.0.1:${port}/test` },
    });
    assertOneClearLine(
      unreachable,
      /^headroom: Cannot reach PostgreSQL at postgres:\/\/127\.0\.0\.1:\d+\/test: /,
    );
    const wrong = await runCli(["serve", "--port", "0"], {
      env: { DATABASE_URL: "postgres://127.0.0.1:5432/headroom_no_such_database" },
    });
    assertOneClearLine(wrong, /database "headroom_no_such_database" does not exist/);
  });

  test("a policy file that does not parse names the file, line and column", async () => {
    const policy = join(dir, "broken-policy.yaml");
    writeFileSync(policy, "version: 2026-12-01\nplans: [pro,\n");
    const result = await cli("policy", "apply", policy);
    assertOneClearLine(result, /^headroom: .*broken-policy\.yaml:\d+:\d+: /);
  });

  test("the SQLite database is readable by its owner only", async () => {
    const data = join(dir, "private");
    await runCli(["keys", "create", "--account", "a", "--plan", "pro", "--data-dir", data]);
    assert.equal(statSync(join(data, "headroom.db")).mode & 0o777, 0o600);
    assert.equal(statSync(data).mode & 0o077, 0, "the directory is not open to others");
  });
});

describe("one serving gateway per SQLite data directory while limits live in the process", () => {
  test("a second serve on the directory refuses in one line; a stopped or dead gateway's lock is no obstacle", async () => {
    const dir = mkdtempSync(join(tmpdir(), "headroom-lock-"));
    try {
      const first = await startServe(["--port", "0", "--data-dir", dir]);
      try {
        // Two gateways each keeping their own limits would let every key through twice.
        const second = await runCli(["serve", "--port", "0", "--data-dir", dir]);
        assertOneClearLine(
          second,
          new RegExp(
            `another headroom gateway \\(pid ${first.child.pid}\\) is serving from .* Run several gateways on Redis \\(REDIS_URL\\)`,
          ),
        );
        // CLI commands beside a gateway take no lock.
        assert.equal((await runCli(["keys", "list", "--data-dir", dir])).code, 0);
      } finally {
        first.child.kill("SIGTERM");
        await once(first.child, "exit");
      }
      // Stopped: the lock went with it, the next gateway starts.
      const next = await startServe(["--port", "0", "--data-dir", dir]);
      next.child.kill("SIGKILL");
      await once(next.child, "exit");
      // Killed, its lock stays behind with a pid no process has: taken over.
      const dead = spawn(process.execPath, ["-e", ""]);
      await once(dead, "exit");
      writeFileSync(join(dir, "serve.lock"), `${dead.pid} stale\n`);
      const again = await startServe(["--port", "0", "--data-dir", dir]);
      again.child.kill("SIGTERM");
      await once(again.child, "exit");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
