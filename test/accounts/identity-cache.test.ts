import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { IDENTITY_TTL_MS, IdentityCache } from "../../src/accounts/identity-cache.ts";
import { openDatabase } from "../../src/stores/sqlite.ts";
import { SqliteAccountStore } from "../../src/stores/sqlite-accounts.ts";

test("a key's identity is remembered for a second: a revocation from another connection is seen once it expires", (t) => {
  const dir = mkdtempSync(join(tmpdir(), "headroom-identity-"));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const gatewayDb = openDatabase(dir);
  const cliDb = openDatabase(dir); // another process, as `headroom keys revoke` would be
  t.after(() => {
    gatewayDb.close();
    cliDb.close();
  });
  const store = new SqliteAccountStore(gatewayDb);
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
  const { key, id } = new SqliteAccountStore(cliDb).createKey("alice", "pro");

  assert.equal(cache.authenticate(key)?.account, "alice");
  assert.equal(cache.authenticate(key)?.account, "alice");
  assert.equal(reads, 1, "the second request within the second reads no database");

  assert.ok(new SqliteAccountStore(cliDb).revokeKey(id));
  now += IDENTITY_TTL_MS - 1;
  assert.equal(cache.authenticate(key)?.account, "alice", "within the second the remembered identity stands");
  now += 1;
  assert.equal(cache.authenticate(key), undefined, "after it, the revocation is seen");
  assert.equal(cache.isRevoked(key), true);

  // Unknown keys are asked every time (never remembered).
  const before = reads;
  cache.authenticate("sk-hr-unknown");
  cache.authenticate("sk-hr-unknown");
  assert.equal(reads, before + 2);
});
