/** `headroom usage`: what the ledger recorded, per account and model. */
import type { Command } from "commander";
import { openDatabase } from "../stores/sqlite.ts";
import { SqliteLedger } from "../stores/sqlite-ledger.ts";
import { configFor, formatTable, type StateOptions, withStateOptions } from "./options.ts";

export function registerUsageCommand(program: Command): void {
  withStateOptions(
    program
      .command("usage")
      .description("summarise recorded usage per account and model")
      .option("--account <name>", "only this account")
      .option("--json", "print rows as JSON"),
  ).action(async (options: StateOptions & { account?: string; json?: boolean }) => {
    const db = openDatabase(configFor(options).server.data_dir);
    const ledger = new SqliteLedger(db);
    try {
      const rows = await ledger.summary({ account: options.account });
      if (options.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        process.stdout.write("No usage recorded yet.\n");
        return;
      }
      const table = rows.map((row) => [
        row.account,
        row.model,
        row.requests,
        row.errors,
        row.input_tokens,
        row.output_tokens,
        row.cache_creation_input_tokens,
        row.cache_read_input_tokens,
      ]);
      process.stdout.write(
        `${formatTable(["account", "model", "requests", "errors", "input", "output", "cache write", "cache read"], table)}\n`,
      );
    } finally {
      await ledger.close();
      db.close();
    }
  });
}
