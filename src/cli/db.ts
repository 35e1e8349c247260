/** `headroom db migrate`: brings the database's schema up to date (serve does it at start too). */
import type { Command } from "commander";
import { openDatabase, SCHEMA_VERSION } from "../stores/sqlite.ts";
import { configFor, type StateOptions, withStateOptions } from "./options.ts";

export function registerDbCommand(program: Command): void {
  const db = program.command("db").description("the database under --data-dir");
  withStateOptions(
    db.command("migrate").description("apply pending schema migrations (forward only)"),
  ).action((options: StateOptions) => {
    const dataDir = configFor(options).server.data_dir;
    let applied = "";
    const handle = openDatabase(dataDir, ({ from, to }) => {
      applied = `migrated the schema from version ${from} to ${to}`;
    });
    handle.close();
    process.stdout.write(`${dataDir}: ${applied || `schema already at version ${SCHEMA_VERSION}`}.\n`);
  });
}
