/**
 * What the gateway knows of a key and the store of accounts, keys and the organisations and
 * teams above them: the domain's contract, which the SQLite and PostgreSQL engines implement
 * (stores/sqlite-accounts.ts, stores/postgres-accounts.ts).
 */
import type { LevelBinding, LevelLimits } from "../plans/level-limits.ts";

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
