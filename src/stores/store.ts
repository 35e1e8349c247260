/**
 * The durable state's contract: accounts and keys, dated policies, and the usage ledger. Two
 * engines implement it and pass one contract suite (test/stores/store-contract.ts): SQLite,
 * embedded under --data-dir (the default), and PostgreSQL, selected by DATABASE_URL, which
 * several gateways can share. Every method is asynchronous so either engine fits; SQLite's
 * answer is ready at once.
 */
import type { Ledger } from "../ledger/usage-event.ts";
import type { Policy } from "../plans/schema.ts";

export interface KeyIdentity {
  keyId: string;
  account: string;
  /** The key's own plan if it overrides the account's, else the account's. */
  plan: string;
  /** Monthly cap on usage credits in USD, or null if the account has not opted in. */
  creditsCapUsd: number | null;
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
  /** The identity a key id stands for, revoked or not (its usage still counts for its account). */
  identityOfKey(keyId: string): Promise<KeyIdentity | undefined>;
  listKeys(account?: string): Promise<KeyListing[]>;
  /** Changes an account's plan and/or its usage-credit cap (null turns credits off). */
  updateAccount(account: string, changes: { plan?: string; creditsCapUsd?: number | null }): Promise<boolean>;
  /** Revokes by key id; false if there is no such active key. */
  revokeKey(id: string, now?: Date): Promise<boolean>;
}

export interface PolicyStore {
  /** Stores every policy given, or none of them; a version already stored is refused unless `replace`. */
  applyAll(policies: readonly Policy[], options?: { replace?: boolean; now?: Date }): Promise<void>;
  /** Every stored policy, earliest effective first. */
  list(): Promise<Policy[]>;
  remove(version: string): Promise<boolean>;
  /** Changes whenever the stored policies may have changed (from any process). */
  dataVersion(): Promise<string>;
}

export interface Stores {
  readonly engine: "sqlite" | "postgres";
  /** Where the data lives, for people: a file path or a database URL without its password. */
  readonly location: string;
  accounts: AccountStore;
  policies: PolicyStore;
  ledger: Ledger;
  close(): Promise<void>;
}

/** The state cannot be used as it is (corrupt, newer schema, unreachable); the message says what to do. */
export class DatabaseError extends Error {
  override name = "DatabaseError";
}

export function policyAlreadyStored(version: string): Error {
  return new Error(`policy ${version} is already stored; give --replace to overwrite it`);
}
