/** What changes between two policies, field by field, for `headroom policy diff`. */
import type { Policy } from "./schema.ts";

export interface Change {
  path: string;
  before: unknown;
  after: unknown;
}

function walk(path: string, before: unknown, after: unknown, changes: Change[]): void {
  const isObject = (value: unknown) => typeof value === "object" && value !== null && !Array.isArray(value);
  if (isObject(before) && isObject(after)) {
    const keys = new Set([...Object.keys(before as object), ...Object.keys(after as object)]);
    for (const key of [...keys].sort()) {
      walk(
        path ? `${path}.${key}` : key,
        (before as Record<string, unknown>)[key],
        (after as Record<string, unknown>)[key],
        changes,
      );
    }
    return;
  }
  if (JSON.stringify(before) !== JSON.stringify(after)) changes.push({ path, before, after });
}

/** Differences in plans and model classes (version, dates and descriptions aside). */
export function diffPolicies(before: Policy, after: Policy): Change[] {
  const changes: Change[] = [];
  walk("model_classes", before.model_classes, after.model_classes, changes);
  walk("plans", before.plans, after.plans, changes);
  walk("capacity_scaling", before.capacity_scaling, after.capacity_scaling, changes);
  return changes.filter((change) => !change.path.endsWith(".description"));
}
