/**
 * PostgreSQL for tests: DATABASE_URL (default postgres://127.0.0.1:5432/test). With CI=true a
 * missing PostgreSQL fails the run; elsewhere the suite is skipped and says why. Each test file
 * works in a schema of its own, dropped afterwards.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { connectionConfig } from "../../src/stores/postgres.ts";

export const DATABASE_URL = process.env.DATABASE_URL ?? "postgres://127.0.0.1:5432/test";

export async function postgresSkipReason(): Promise<string | undefined> {
  const client = new pg.Client({ ...connectionConfig(DATABASE_URL), connectionTimeoutMillis: 2_000 });
  try {
    await client.connect();
    await client.query("select 1");
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL is not reachable at ${DATABASE_URL} (${(error as Error).message})`;
    if (process.env.CI === "true") throw new Error(`${reason}; CI requires it`);
    console.warn(`skipping: ${reason}`);
    return reason;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A schema name unique to this run. */
export const uniqueSchema = (label: string) =>
  `hrtest_${label}_${process.pid}_${randomBytes(4).toString("hex")}`;

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client(connectionConfig(DATABASE_URL));
  await client.connect();
  try {
    await client.query(`drop schema if exists "${schema}" cascade`);
  } finally {
    await client.end();
  }
}

/** Runs SQL in a schema, as an operator's psql would. */
export async function inSchema<T extends pg.QueryResultRow>(
  schema: string,
  sql: string,
  params: unknown[] = [],
) {
  const client = new pg.Client({ ...connectionConfig(DATABASE_URL), options: `-c search_path="${schema}"` });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}
