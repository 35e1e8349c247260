import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { keyHasher } from "../../src/accounts/api-keys.ts";
import { IDENTITY_TTL_MS, IdentityCache, STALE_IF_ERROR_MS } from "../../src/accounts/identity-cache.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqliteAccountStore } from "../../src/stores/sqlite-accounts.ts";

const hasher = keyHasher(Buffer.from("a test secret of at least thirty-two characters"));

test("a key's identity is remembered for a second: a revocation from another connection is seen once it expires", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "headroom-identity-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gatewayDb = openDatabase(dir);
  const cliDb = openDatabase(dir); // another process, as `headroom keys revoke` would be
  t.after(() => {
    gatewayDb.close();
    cliDb.close();
  });
  const store = new SqliteAccountStore(gatewayDb, hasher);
  let reads = 0;
  const counted = {
    authenticate: (key: string) => {
      reads++;
      return store.authenticate(key);
    },
    isRevoked: (key: string) => store.isRevoked(key),
  };
  let now = 0;
  const cache = new IdentityCache(counted, () => now);
  const { key, id } = await new SqliteAccountStore(cliDb, hasher).createKey("alice", "pro");

  assert.equal((await cache.authenticate(key))?.account, "alice");
  const remembered = cache.authenticate(key);
  assert.ok(!(remembered instanceof Promise), "a remembered key is answered without a promise");
  assert.equal(remembered?.account, "alice");
  assert.equal(reads, 1, "the second request within the second reads no database");

  assert.ok(await new SqliteAccountStore(cliDb, hasher).revokeKey(id));
  now += IDENTITY_TTL_MS - 1;
  assert.equal(
    (await cache.authenticate(key))?.account,
    "alice",
    "within the second the remembered identity stands",
  );
  now += 1;
  assert.equal(await cache.authenticate(key), undefined, "after it, the revocation is seen");
  assert.equal(await cache.isRevoked(key), true);

  // Unknown keys are asked every time (never remembered).
  const before = reads;
  await cache.authenticate("sk-hr-unknown");
  await cache.authenticate("sk-hr-unknown");
  assert.equal(reads, before + 2);
});

test("while the account store is down, keys seen recently keep working; unknown ones are not let in", async () => {
  const identity = { keyId: "key_1", account: "alice", plan: "pro", creditsCapUsd: null };
  let down = false;
  const store = {
    authenticate: async (key: string) => {
      if (down) throw new Error("connection refused");
      return key === "sk-known" ? identity : undefined;
    },
    isRevoked: async () => false,
  };
  let now = 0;
  const cache = new IdentityCache(store, () => now);
  assert.deepEqual(await cache.authenticate("sk-known"), identity);
  down = true;
  now += IDENTITY_TTL_MS * 5;
  assert.deepEqual(await cache.authenticate("sk-known"), identity, "the remembered identity stands in");
  await assert.rejects(Promise.resolve(cache.authenticate("sk-other")), /connection refused/);
  now += STALE_IF_ERROR_MS + IDENTITY_TTL_MS * 5;
  await assert.rejects(Promise.resolve(cache.authenticate("sk-known")), /connection refused/, "not forever");
});
