/** The database's schema: forward-only migrations, and clear refusals of files headroom cannot use. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { MIGRATIONS, SCHEMA_VERSION } from "../../src/stores/sqlite.ts";
import { runCli } from "../helpers/cli.ts";

describe("headroom db and the schema", () => {
  const dirs: string[] = [];
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "headroom-db-"));
    dirs.push(dir);
    return dir;
  };
  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  test("an old schema is migrated forward, keeping its rows and folding duplicated request ids", async () => {
    const dir = newDir();
    const old = new Database(join(dir, "headroom.db"));
    for (const sql of MIGRATIONS.slice(0, 3)) old.exec(sql);
    old.pragma("user_version = 3");
    const insert = old.prepare(
      `insert into usage_events (at_ms, request_id, account, endpoint, streamed, status, input_tokens, output_tokens,
         cache_creation_input_tokens, cache_read_input_tokens, duration_ms) values (?, ?, 'a', 'anthropic', 0, 200, 1, ?, 0, 0, 1)`,
    );
    insert.run(1, "req_dup", 10);
    insert.run(2, "req_dup", 10);
    insert.run(3, "req_other", 7);
    old.close();

    const first = await runCli(["db", "migrate", "--data-dir", dir]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, new RegExp(`from version 3 to ${SCHEMA_VERSION}`));
    const second = await runCli(["db", "migrate", "--data-dir", dir]);
    assert.match(second.stdout, /already at the latest version/);

    const db = new Database(join(dir, "headroom.db"), { readonly: true });
    assert.deepEqual(db.prepare("select request_id, output_tokens from usage_events order by at_ms").all(), [
      { request_id: "req_dup", output_tokens: 10 },
      { request_id: "req_other", output_tokens: 7 },
    ]);
    assert.equal(db.pragma("user_version", { simple: true }), SCHEMA_VERSION);
    db.close();
  });

  test("a database from a newer headroom is refused, naming both versions", async () => {
    const dir = newDir();
    assert.equal((await runCli(["db", "migrate", "--data-dir", dir])).code, 0);
    const db = new Database(join(dir, "headroom.db"));
    db.pragma(`user_version = ${SCHEMA_VERSION + 7}`);
    db.close();
    for (const args of [["serve", "--port", "0"], ["usage"], ["keys", "list"]]) {
      const result = await runCli([...args, "--data-dir", dir]);
      assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`);
      assert.match(
        result.stderr,
        new RegExp(
          `schema is version ${SCHEMA_VERSION + 7}, this headroom knows versions up to ${SCHEMA_VERSION}`,
        ),
      );
      assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
    }
  });

  test("a file that is not a database is refused in one line", async () => {
    const dir = newDir();
    writeFileSync(join(dir, "headroom.db"), "this is not SQLite, it only has its name\n".repeat(200));
    for (const args of [["serve", "--port", "0"], ["usage"]]) {
      const result = await runCli([...args, "--data-dir", dir]);
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, /headroom\.db is not a usable headroom database/);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
    }
  });
});
