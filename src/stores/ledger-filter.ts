/** The WHERE clause both ledger engines build from a filter, in each engine's placeholders. */
export interface LedgerFilter {
  account?: string | undefined;
  sinceMs?: number | undefined;
}

/**
 * `where …` (or nothing) for rows of an account and from an instant, after any `always`
 * conditions, with the parameters in order; `placeholder(n)` writes the nth (1-based):
 * `() => "?"` for SQLite, `(n) => \`$${n}\`` for PostgreSQL.
 */
export function ledgerWhere(
  filter: LedgerFilter,
  placeholder: (n: number) => string,
  always: readonly string[] = [],
): { where: string; params: unknown[] } {
  const conditions = [...always];
  const params: unknown[] = [];
  if (filter.account) {
    params.push(filter.account);
    conditions.push(`account = ${placeholder(params.length)}`);
  }
  if (filter.sinceMs !== undefined) {
    params.push(filter.sinceMs);
    conditions.push(`at_ms >= ${placeholder(params.length)}`);
  }
  return { where: conditions.length > 0 ? `where ${conditions.join(" and ")}` : "", params };
}
