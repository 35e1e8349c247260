/** The `headroom` command line: one file per command, wired here. */
import { Command } from "commander";
import { ConfigError } from "../config/load.ts";
import { registerAccountsCommand } from "./accounts.ts";
import { registerFleetCommand } from "./fleet.ts";
import { registerKeysCommand } from "./keys.ts";
import { registerPlanCommand } from "./plan.ts";
import { registerPolicyCommand } from "./policy.ts";
import { registerServeCommand } from "./serve.ts";
import { registerUsageCommand } from "./usage.ts";

const program = new Command()
  .name("headroom")
  .description("A capacity-aware gateway for LLM services.")
  .showHelpAfterError();

registerServeCommand(program);
registerKeysCommand(program);
registerAccountsCommand(program);
registerFleetCommand(program);
registerPlanCommand(program);
registerPolicyCommand(program);
registerUsageCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError || (error instanceof Error && error.name === "UsageError")) {
    process.stderr.write(`headroom: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
