/**
 * Authentication without a database read per request: a key's identity is remembered for a
 * second, so a revoked key (or a changed plan) is seen within a second by every gateway that
 * shares the store, while a busy key costs one lookup a second. Unknown keys are never
 * remembered, so a flood of bad keys cannot grow the cache; its size is bounded anyway.
 */
import type { KeyIdentity } from "../stores/sqlite-accounts.ts";

/** What authentication needs from an account store. */
export interface KeyLookup {
  authenticate(key: string): KeyIdentity | undefined;
  isRevoked(key: string): boolean;
}

export const IDENTITY_TTL_MS = 1_000;
const MAX_ENTRIES = 50_000;

export class IdentityCache implements KeyLookup {
  private readonly entries = new Map<string, { identity: KeyIdentity; expiresAt: number }>();

  constructor(
    private readonly store: KeyLookup,
    /** A monotonic clock in milliseconds (injected in tests). */
    private readonly now: () => number = () => performance.now(),
    private readonly ttlMs = IDENTITY_TTL_MS,
  ) {}

  authenticate(key: string): KeyIdentity | undefined {
    const at = this.now();
    const cached = this.entries.get(key);
    if (cached && cached.expiresAt > at) return cached.identity;
    const identity = this.store.authenticate(key);
    if (!identity) {
      this.entries.delete(key);
      return undefined;
    }
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { identity, expiresAt: at + this.ttlMs });
    return identity;
  }

  isRevoked(key: string): boolean {
    return this.store.isRevoked(key);
  }
}
