/** Reads policy files: one policy, or a YAML list of them (e.g. before and after a deal). */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { ConfigError, describeIssues, parseYaml } from "../config/load.ts";
import { type Policy, policySchema } from "./schema.ts";

export function readPolicyFile(file: string): Policy[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const value = parseYaml(file, text);
  const parsed = Array.isArray(value)
    ? z.array(policySchema).min(1).safeParse(value)
    : policySchema.safeParse(value);
  if (!parsed.success) throw new ConfigError(describeIssues(file, parsed.error));
  const policies = Array.isArray(parsed.data) ? parsed.data : [parsed.data];
  const versions = new Set<string>();
  for (const policy of policies) {
    if (versions.has(policy.version))
      throw new ConfigError(`${file}: version ${policy.version} appears twice`);
    versions.add(policy.version);
  }
  return policies;
}
