/**
 * The durable state's contract: accounts and keys, dated policies, and the usage ledger. Two
 * engines implement it and pass one contract suite (test/stores/store-contract.ts): SQLite,
 * embedded under --data-dir (the default), and PostgreSQL, selected by DATABASE_URL, which
 * several gateways can share. Every method is asynchronous so either engine fits; SQLite's
 * answer is ready at once.
 */
import type { AccountStore, KeyIdentity } from "../accounts/account-store.ts";
import type { Ledger } from "../ledger/usage-event.ts";
import type { LevelBinding, LevelLimits } from "../plans/level-limits.ts";
import type { PolicyStore } from "../plans/policy-store.ts";

/** Organisations and teams above accounts, with limits of their own (the same DDL on both engines). */
export const LEVELS_MIGRATION = `create table organisations (
     name text primary key,
     limits text not null default '{}',
     created_at text not null
   );
   create table teams (
     name text primary key,
     organisation text not null references organisations(name),
     limits text not null default '{}',
     created_at text not null
   );
   alter table accounts add column team text references teams(name);
   alter table api_keys add column limits text;`;

/** Where a level's limits are stored, and the column naming it. */
export const LEVEL_TABLES = {
  organisation: { table: "organisations", column: "name" },
  team: { table: "teams", column: "name" },
  key: { table: "api_keys", column: "id" },
} as const;

/** The columns an identity is read from, the same in both engines. */
export interface IdentityRow {
  id: string;
  account: string;
  plan: string;
  credits_cap_usd: number | null;
  key_limits: string | null;
  team: string | null;
  team_limits: string | null;
  organisation: string | null;
  organisation_limits: string | null;
}

/** The SQL both engines select an identity with (`?`-free: the caller adds its WHERE). */
export const IDENTITY_SELECT = `select k.id, k.account, coalesce(k.plan, a.plan) as plan, k.revoked_at, a.credits_cap_usd,
         k.limits as key_limits, a.team, t.limits as team_limits, t.organisation, o.limits as organisation_limits
    from api_keys k join accounts a on a.name = k.account
    left join teams t on t.name = a.team
    left join organisations o on o.name = t.organisation`;

export function identityFromRow(row: IdentityRow, parse: (text: string | null) => LevelLimits): KeyIdentity {
  const levels: LevelBinding[] = [];
  if (row.organisation)
    levels.push({ level: "organisation", name: row.organisation, limits: parse(row.organisation_limits) });
  if (row.team) levels.push({ level: "team", name: row.team, limits: parse(row.team_limits) });
  const keyLimits = parse(row.key_limits);
  if (Object.keys(keyLimits).length > 0) levels.push({ level: "key", name: row.id, limits: keyLimits });
  return {
    keyId: row.id,
    account: row.account,
    plan: row.plan,
    creditsCapUsd: row.credits_cap_usd,
    team: row.team,
    organisation: row.organisation,
    levels,
  };
}

/** Which limit refused a request, in its ledger row (the demand export counts users per limit). */
export const LIMITED_BY_MIGRATION = "alter table usage_events add column limited_by text;";

/** Drafts and the audit log (the same DDL on both engines but the audit's sequence). */
export const policyReviewMigration = (sequence: string) => `create table policy_drafts (
     id text primary key,
     version text not null unique,
     body text not null,
     status text not null,
     proposed_at text not null,
     proposed_by text not null,
     source text,
     notes text,
     decided_at text,
     decided_by text
   );
   create table policy_audit (
     seq ${sequence} primary key,
     at text not null,
     actor text not null,
     action text not null,
     version text not null,
     draft_id text,
     source text
   );`;

/** Small named values the gateway keeps (the admin token's hash). */
export interface SettingsStore {
  get(name: string): Promise<string | undefined>;
  /** Stores the value unless the name is taken; true if this call stored it. */
  setIfAbsent(name: string, value: string): Promise<boolean>;
  set(name: string, value: string): Promise<void>;
}

/** How each ledger row is charged (ledger/billing.ts); rows before it were charged in full. */
export const BILLING_MIGRATION = "alter table usage_events add column billing text not null default 'full';";

export const SETTINGS_MIGRATION = "create table settings (name text primary key, value text not null);";

export interface Stores {
  readonly engine: "sqlite" | "postgres";
  /** Where the data lives, for people: a file path or a database URL without its password. */
  readonly location: string;
  accounts: AccountStore;
  policies: PolicyStore;
  ledger: Ledger;
  settings: SettingsStore;
  close(): Promise<void>;
}

/** The state cannot be used as it is (corrupt, newer schema, unreachable); the message says what to do. */
export class DatabaseError extends Error {
  override name = "DatabaseError";
}

export function policyAlreadyStored(version: string): Error {
  return new Error(`policy ${version} is already stored; give --replace to overwrite it`);
}
