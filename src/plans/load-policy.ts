import { z } from "zod";
import { ConfigError, readYamlFile } from "../config/yaml-file.ts";
import { type Policy, policySchema } from "./schema.ts";

export function readPolicyFile(file: string): Policy[] {
  const parsed = readYamlFile(
    file,
    (value): z.ZodType<Policy | Policy[]> =>
      Array.isArray(value) ? z.array(policySchema).min(1) : policySchema,
  );
  const policies = Array.isArray(parsed) ? parsed : [parsed];
  const versions = new Set<string>();
  for (const policy of policies) {
    if (versions.has(policy.version))
      throw new ConfigError(`${file}: version ${policy.version} appears twice`);
    versions.add(policy.version);
  }
  return policies;
}
