/** The `headroom` command line: one file per command, wired here. */
import { Command } from "commander";
import { ConfigError } from "../config/load.ts";
import { registerAccountsCommand } from "./accounts.ts";
import { registerAdminCommand } from "./admin.ts";
import { registerDbCommand } from "./db.ts";
import { registerDemandCommand } from "./demand.ts";
import { registerFleetCommand } from "./fleet.ts";
import { registerKeysCommand } from "./keys.ts";
import { registerLevelCommands } from "./levels.ts";
import { registerPlanCommand } from "./plan.ts";
import { registerPolicyCommand } from "./policy.ts";
import { registerServeCommand } from "./serve.ts";
import { registerTrafficCommand } from "./traffic.ts";
import { registerUsageCommand } from "./usage.ts";

const program = new Command()
  .name("headroom")
  .description("A capacity-aware gateway for LLM services.")
  .showHelpAfterError();

registerServeCommand(program);
registerKeysCommand(program);
registerAccountsCommand(program);
registerLevelCommands(program);
registerAdminCommand(program);
registerFleetCommand(program);
registerPlanCommand(program);
registerPolicyCommand(program);
registerUsageCommand(program);
registerDemandCommand(program);
registerTrafficCommand(program);
registerDbCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const plain = ["UsageError", "DatabaseError"];
  if (error instanceof ConfigError || (error instanceof Error && plain.includes(error.name))) {
    process.stderr.write(`headroom: ${error.message}\n`);
    process.exit(2);
  }
  throw error;
}
