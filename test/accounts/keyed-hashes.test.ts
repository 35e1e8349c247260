/**
 * Keys are stored as HMACs under a server secret that never enters the database: on both
 * engines, through the real stores and the real CLI.
 */
import assert from "node:assert/strict";
import { createHash, createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { KEY_SECRET_FILE } from "../../src/accounts/key-secret.ts";
import { openStores } from "../../src/stores/open-stores.ts";
import { runCli } from "../helpers/cli.ts";
import { DATABASE_URL, dropSchema, postgresSkipReason, uniqueSchema } from "../helpers/postgres.ts";

const root = mkdtempSync(join(tmpdir(), "headroom-keyed-"));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `d${dirs++}`);

describe("API keys under a server secret (SQLite)", () => {
  test("the stored hash is the key's HMAC under the data directory's secret, which is 0600 and not in the database", async () => {
    const dataDir = freshDir();
    const stores = await openStores({ dataDir, env: {} });
    const { key } = await stores.accounts.createKey("alice", "pro");
    await stores.close();
    const secretFile = join(dataDir, KEY_SECRET_FILE);
    assert.equal(statSync(secretFile).mode & 0o777, 0o600);
    const secret = readFileSync(secretFile, "utf8").trim();
    const db = new Database(join(dataDir, "headroom.db"), { readonly: true });
    const [row] = db.prepare("select hash from api_keys").all() as Array<{ hash: string }>;
    const dump = JSON.stringify(db.prepare("select * from settings").all());
    db.close();
    assert.equal(row?.hash, `hmac-sha256:${createHmac("sha256", secret).update(key).digest("hex")}`);
    assert.notEqual(row?.hash, createHash("sha256").update(key).digest("hex"));
    assert.ok(!dump.includes(secret), "the secret is not stored in the database");
  });

  test("another secret accepts none of the keys; HEADROOM_KEY_SECRET is used when given", async () => {
    const env = { HEADROOM_KEY_SECRET: "x".repeat(40) };
    const dataDir = freshDir();
    const first = await openStores({ dataDir, env });
    const { key } = await first.accounts.createKey("bob", "pro");
    assert.equal((await first.accounts.authenticate(key))?.account, "bob");
    await first.close();
    const other = await openStores({ dataDir, env: { HEADROOM_KEY_SECRET: "y".repeat(40) } });
    assert.equal(await other.accounts.authenticate(key), undefined);
    await other.close();
  });

  test("a key stored by an earlier version (unkeyed SHA-256) still works and is rehashed on first use", async () => {
    const dataDir = freshDir();
    const stores = await openStores({ dataDir, env: {} });
    const { key, id } = await stores.accounts.createKey("carol", "pro");
    await stores.close();
    const db = new Database(join(dataDir, "headroom.db"));
    db.prepare("update api_keys set hash = ? where id = ?").run(
      createHash("sha256").update(key).digest("hex"),
      id,
    );
    db.close();
    const again = await openStores({ dataDir, env: {} });
    assert.equal((await again.accounts.authenticate(key))?.account, "carol");
    await again.close();
    const check = new Database(join(dataDir, "headroom.db"), { readonly: true });
    const row = check.prepare("select hash from api_keys where id = ?").get(id) as { hash: string };
    check.close();
    assert.match(row.hash, /^hmac-sha256:/);
  });

  test("a lost secret file stops the start with one clear line instead of refusing every key", async () => {
    const dataDir = freshDir();
    const created = await runCli([
      "keys",
      "create",
      "--account",
      "dave",
      "--plan",
      "pro",
      "--data-dir",
      dataDir,
    ]);
    assert.equal(created.code, 0, created.stderr);
    rmSync(join(dataDir, KEY_SECRET_FILE));
    const result = await runCli(["keys", "list", "--data-dir", dataDir]);
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^headroom: the keys in .* were hashed with a server secret this gateway does not have: set HEADROOM_KEY_SECRET to it, or restore key-secret/,
    );
    // Nothing was made in its place: the next start says the same.
    assert.equal((await runCli(["keys", "list", "--data-dir", dataDir])).code, 2);
  });
});

const skip = await postgresSkipReason();
describe("API keys under a server secret (PostgreSQL)", { skip }, () => {
  const schema = uniqueSchema("keyed");
  after(() => dropSchema(schema));

  test("gateways sharing a database share keys only when given the same HEADROOM_KEY_SECRET", async () => {
    const env = { DATABASE_URL, HEADROOM_DATABASE_SCHEMA: schema, HEADROOM_KEY_SECRET: "s".repeat(48) };
    const one = await openStores({ dataDir: freshDir(), env });
    const { key } = await one.accounts.createKey("erin", "pro");
    const two = await openStores({ dataDir: freshDir(), env });
    assert.equal((await two.accounts.authenticate(key))?.account, "erin");
    assert.equal(await two.accounts.hasKeyedHashes(), true);
    await Promise.all([one.close(), two.close()]);
    // A gateway on another machine without the secret refuses to start rather than refuse everyone.
    const { HEADROOM_KEY_SECRET: _secret, ...withoutSecret } = env;
    await assert.rejects(
      openStores({ dataDir: freshDir(), env: withoutSecret }),
      /server secret this gateway does not have/,
    );
  });
});
