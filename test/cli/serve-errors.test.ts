import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../helpers/cli.ts";

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
});
