/** `headroom db migrate`: brings the database's schema up to date (serve does it at start too). */
import type { Command } from "commander";
import { openStores } from "../stores/open-stores.ts";
import { configFor, type StateOptions, withStateOptions } from "./options.ts";

export function registerDbCommand(program: Command): void {
  const db = program.command("db").description("the database: SQLite under --data-dir, or DATABASE_URL");
  withStateOptions(
    db.command("migrate").description("apply pending schema migrations (forward only)"),
  ).action(async (options: StateOptions) => {
    let applied = "";
    const stores = await openStores({
      dataDir: configFor(options).server.data_dir,
      env: process.env,
      onMigrated: ({ from, to }) => {
        applied = `migrated the schema from version ${from} to ${to}`;
      },
    });
    await stores.close();
    process.stdout.write(`${stores.location}: ${applied || "schema already at the latest version"}.\n`);
  });
}
