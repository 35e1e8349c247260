/**
 * Authentication without a database read per request: a key's identity is remembered for a
 * second, so a revoked key (or a changed plan) is seen within a second by every gateway that
 * shares the store, while a busy key costs one lookup a second. Unknown keys are never
 * remembered, so a flood of bad keys cannot grow the cache; its size is bounded anyway.
 */
import type { KeyIdentity } from "./account-store.ts";

/** What authentication needs from an account store. */
export interface KeyLookup {
  authenticate(key: string): Promise<KeyIdentity | undefined>;
  isRevoked(key: string): Promise<boolean>;
}

export const IDENTITY_TTL_MS = 1_000;
/** While the store cannot answer, a remembered identity stands this long past its second. */
export const STALE_IF_ERROR_MS = 10 * 60_000;
const MAX_ENTRIES = 50_000;

/**
 * A remembered key answers at once (no promise); others ask the store. When the store fails
 * (PostgreSQL down), keys seen recently keep working on what was remembered.
 */
export class IdentityCache {
  private readonly entries = new Map<string, { identity: KeyIdentity; expiresAt: number }>();

  constructor(
    private readonly store: KeyLookup,
    /** A monotonic clock in milliseconds (injected in tests). */
    private readonly now: () => number = () => performance.now(),
    private readonly ttlMs = IDENTITY_TTL_MS,
  ) {}

  authenticate(key: string): KeyIdentity | undefined | Promise<KeyIdentity | undefined> {
    const at = this.now();
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > at) return cached.identity;
    return this.lookUp(key, at, cached);
  }

  private async lookUp(
    key: string,
    at: number,
    stale: { identity: KeyIdentity; expiresAt: number } | undefined,
  ): Promise<KeyIdentity | undefined> {
    let identity: KeyIdentity | undefined;
    try {
      identity = await this.store.authenticate(key);
    } catch (error) {
      if (stale && at - stale.expiresAt < STALE_IF_ERROR_MS) return stale.identity;
      throw error;
    }
    if (!identity) {
      this.entries.delete(key);
      return undefined;
    }
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { identity, expiresAt: at + this.ttlMs });
    return identity;
  }

  /** Whether this key was valid when last looked up here (however long ago). */
  knows(key: string): boolean {
    return this.entries.has(key);
  }

  isRevoked(key: string): Promise<boolean> {
    return this.store.isRevoked(key);
  }
}
