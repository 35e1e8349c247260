/**
 * The durable state's contract: accounts and keys, dated policies, and the usage ledger. Two
 * engines implement it and pass one contract suite (test/stores/store-contract.ts): SQLite,
 * embedded under --data-dir (the default), and PostgreSQL, selected by DATABASE_URL, which
 * several gateways can share. Every method is asynchronous so either engine fits; SQLite's
 * answer is ready at once.
 */
import type { Ledger } from "../ledger/usage-event.ts";
import type { LevelBinding, LevelLimits } from "../plans/level-limits.ts";
import type { Policy } from "../plans/schema.ts";

export interface KeyIdentity {
  keyId: string;
  account: string;
  /** The key's own plan if it overrides the account's, else the account's. */
  plan: string;
  /** Monthly cap on usage credits in USD, or null if the account has not opted in. */
  creditsCapUsd: number | null;
  /** The account's team and its organisation, when it belongs to one. */
  team?: string | null;
  organisation?: string | null;
  /** Limits of the organisation, the team and the key itself, each in its own scope. */
  levels?: LevelBinding[];
}

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

export interface LevelListing {
  name: string;
  /** A team's organisation. */
  organisation?: string;
  limits: LevelLimits;
  created_at: string;
}

export interface KeyListing {
  id: string;
  account: string;
  plan: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

export interface CreatedKey {
  id: string;
  key: string;
  account: string;
  plan: string;
}

export interface AccountStore {
  /**
   * Creates a key for an account, creating the account with `plan` if it is new. For an
   * existing account a different plan becomes this key's own override.
   */
  createKey(account: string, plan: string | undefined, now?: Date): Promise<CreatedKey>;
  /** The identity behind a key, or undefined if unknown or revoked. */
  authenticate(key: string): Promise<KeyIdentity | undefined>;
  /** Whether a key exists but was revoked, to say so in the 401. */
  isRevoked(key: string): Promise<boolean>;
  /** Whether any key is stored under a keyed hash (so the server secret that made it matters). */
  hasKeyedHashes(): Promise<boolean>;
  /** The identity a key id stands for, revoked or not (its usage still counts for its account). */
  identityOfKey(keyId: string): Promise<KeyIdentity | undefined>;
  listKeys(account?: string): Promise<KeyListing[]>;
  /** Changes an account's plan and/or its usage-credit cap (null turns credits off). */
  updateAccount(account: string, changes: { plan?: string; creditsCapUsd?: number | null }): Promise<boolean>;
  /** Revokes by key id; false if there is no such active key. */
  revokeKey(id: string, now?: Date): Promise<boolean>;
  /** Creates an organisation; refused if the name is taken. */
  createOrganisation(name: string, limits: LevelLimits, now?: Date): Promise<void>;
  /** Creates a team in an existing organisation; refused if the name is taken. */
  createTeam(name: string, organisation: string, limits: LevelLimits, now?: Date): Promise<void>;
  listOrganisations(): Promise<LevelListing[]>;
  listTeams(organisation?: string): Promise<LevelListing[]>;
  /** Replaces a level's limits ({} removes them); false if there is no such organisation, team or key. */
  setLimits(level: "organisation" | "team" | "key", name: string, limits: LevelLimits): Promise<boolean>;
  /** Puts an account in a team (null takes it out); false if the account or team does not exist. */
  setAccountTeam(account: string, team: string | null): Promise<boolean>;
}

/** Who changed policies, and from where: recorded with every change. */
export interface PolicyActor {
  /** "cli", "admin-api", … */
  actor?: string;
  /** What the change came from (a plan run's directory, a file). */
  source?: string;
}

export interface PolicyStore {
  /**
   * Stores every policy given, or none of them; a version already stored is refused unless
   * `replace`. Each is recorded in the audit log in the same transaction.
   */
  applyAll(
    policies: readonly Policy[],
    options?: { replace?: boolean; now?: Date } & PolicyActor,
  ): Promise<void>;
  /** Every stored policy, earliest effective first. */
  list(): Promise<Policy[]>;
  remove(version: string, options?: { now?: Date } & PolicyActor): Promise<boolean>;
  /** Changes whenever the stored policies may have changed (from any process). */
  dataVersion(): Promise<string>;
  /**
   * Stores a policy as a draft: it takes no effect until approved. Refused when the version is
   * already stored or drafted.
   */
  propose(
    policy: Policy,
    options: { id: string; now?: Date; notes?: string } & PolicyActor,
  ): Promise<PolicyDraft>;
  /** Drafts, newest first (decided ones too). */
  drafts(): Promise<PolicyDraft[]>;
  /**
   * Approves a draft (its policy is stored, in force from its date) or rejects it, in one
   * transaction with its audit entry; refused unless it is still a draft.
   */
  decide(
    id: string,
    decision: "approve" | "reject",
    options?: { now?: Date } & PolicyActor,
  ): Promise<PolicyDraft>;
  /** Every recorded change, oldest first. */
  auditLog(): Promise<PolicyAuditEntry[]>;
}

export interface PolicyDraft {
  id: string;
  policy: Policy;
  status: "draft" | "approved" | "rejected";
  proposedAt: string;
  proposedBy: string;
  source: string | null;
  /** Free text kept with the draft (the plan's margins, say). */
  notes: string | null;
  decidedAt: string | null;
  decidedBy: string | null;
}

export interface PolicyAuditEntry {
  at: string;
  actor: string;
  action: "apply" | "replace" | "remove" | "propose" | "approve" | "reject";
  version: string;
  draftId: string | null;
  source: string | null;
}

export class PolicyReviewError extends Error {
  override name = "PolicyReviewError";
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
