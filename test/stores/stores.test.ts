/** The durable store contract on SQLite and on PostgreSQL (DATABASE_URL). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { openStores } from "../../src/stores/open-stores.ts";
import { DATABASE_URL, dropSchema, postgresSkipReason, uniqueSchema } from "../helpers/postgres.ts";
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
