/** The durable store contract on SQLite and on PostgreSQL (DATABASE_URL). */

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { openStores } from "../../src/stores/open-stores.ts";
import { POSTGRES_SCHEMA_VERSION } from "../../src/stores/postgres.ts";
import type { Migration } from "../../src/stores/sqlite.ts";
import { DatabaseError } from "../../src/stores/store.ts";
import { DATABASE_URL, dropSchema, inSchema, postgresSkipReason, uniqueSchema } from "../helpers/postgres.ts";
import { describeStoreContract } from "./store-contract.ts";

const root = mkdtempSync(join(tmpdir(), "headroom-stores-"));
after(() => rmSync(root, { recursive: true, force: true }));
let locations = 0;
describeStoreContract("SQLite", () => {
  const dataDir = join(root, `location-${locations++}`);
  return () => openStores({ dataDir, env: {} });
});

const skip = await postgresSkipReason();
const schemas: string[] = [];
after(async () => {
  for (const schema of schemas) await dropSchema(schema);
});
describeStoreContract(
  "PostgreSQL",
  () => {
    const schema = uniqueSchema("contract");
    schemas.push(schema);
    return () => openStores({ dataDir: root, env: { DATABASE_URL, HEADROOM_DATABASE_SCHEMA: schema } });
  },
  { skip },
);

describe("a PostgreSQL schema written by a newer headroom", { skip }, () => {
  test("is refused, naming both versions; migrating again is a no-op", async () => {
    const schema = uniqueSchema("newer");
    schemas.push(schema);
    const env = { DATABASE_URL, HEADROOM_DATABASE_SCHEMA: schema };
    const migrations: Migration[] = [];
    const stores = await openStores({ dataDir: root, env, onMigrated: (m) => migrations.push(m) });
    await stores.close();
    assert.deepEqual(migrations, [{ from: 0, to: POSTGRES_SCHEMA_VERSION }]);
    const again = await openStores({ dataDir: root, env, onMigrated: (m) => migrations.push(m) });
    await again.close();
    assert.equal(migrations.length, 1, "nothing to migrate the second time");

    await inSchema(schema, "update headroom_schema set version = $1", [POSTGRES_SCHEMA_VERSION + 3]);
    await assert.rejects(
      openStores({ dataDir: root, env }),
      (error: Error) =>
        error instanceof DatabaseError &&
        error.message.includes(
          `its schema is version ${POSTGRES_SCHEMA_VERSION + 3}, this headroom knows versions up to ${POSTGRES_SCHEMA_VERSION}`,
        ) &&
        !error.message.includes("password"),
    );
  });

  test("an unreachable PostgreSQL is one clear error", async () => {
    await assert.rejects(
      openStores({ dataDir: root, env: { DATABASE_URL: "postgres://nobody:secret@127.0.0.1:1/none" } }),
      (error: Error) =>
        error instanceof DatabaseError &&
        /Cannot reach PostgreSQL/.test(error.message) &&
        !error.message.includes("secret"),
    );
  });
});
