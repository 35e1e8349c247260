/**
 * Every YAML file headroom reads (configuration, policies, fleets, scenarios, the GPU catalog,
 * the throughput measurements) goes through `readYamlFile`: read, parse (merge keys on, syntax
 * errors with line and column), validate with the file's zod schema, and fail with one clear
 * `ConfigError` naming the file and the path inside it.
 */
import { readFileSync } from "node:fs";
import { parseDocument } from "yaml";
import type { z } from "zod";

export class ConfigError extends Error {
  override name = "ConfigError";
}

/** Formats zod issues as `file: path.to.field: message` lines. */
export function describeIssues(file: string, error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join(".") : "(top level)";
      return `${file}: ${path}: ${issue.message}`;
    })
    .join("\n");
}

/** Parses YAML text into a value, reporting syntax errors with line and column. */
export function parseYaml(file: string, text: string): unknown {
  // Merge keys (`<<: *anchor`) let a policy reuse plans; YAML 1.2 needs them asked for.
  const doc = parseDocument(text, { prettyErrors: true, merge: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const where = first?.linePos?.[0] ? `:${first.linePos[0].line}:${first.linePos[0].col}` : "";
    throw new ConfigError(`${file}${where}: ${first?.message.split("\n")[0] ?? "invalid YAML"}`);
  }
  return doc.toJS() ?? {};
}

/**
 * `schema` may depend on the document's shape (a policy file holds one policy or a list), so
 * the errors name the path inside the shape the file chose rather than "invalid input".
 */
export function readYamlFile<T extends z.ZodType>(
  file: string,
  schema: T | ((value: unknown) => T),
): z.infer<T> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    throw new ConfigError(`${file}: cannot read: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  const value = parseYaml(file, text);
  const parsed = (typeof schema === "function" ? schema(value) : schema).safeParse(value);
  if (!parsed.success) throw new ConfigError(describeIssues(file, parsed.error));
  return parsed.data;
}
