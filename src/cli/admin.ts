/** `headroom admin rotate-token`: replace the admin token (printed once; running gateways take it at their next start). */
import type { Command } from "commander";
import { rotateAdminToken } from "../edge/admin/admin-token.ts";
import { type StateOptions, withStateOptions, withStores } from "./options.ts";

export function registerAdminCommand(program: Command): void {
  const admin = program.command("admin").description("the admin API's token");
  withStateOptions(
    admin
      .command("rotate-token")
      .description("make a new admin token; the old one stops working when the gateways restart"),
  ).action(async (options: StateOptions) => {
    const token = await withStores(options, (stores) => rotateAdminToken(stores.settings));
    process.stdout.write(
      `New admin token (shown only this once; restart the gateways to use it):\n\n  ${token}\n\n` +
        "Send it as Authorization: Bearer to /admin/v1. HEADROOM_ADMIN_TOKEN, when set, still wins.\n",
    );
  });
}
