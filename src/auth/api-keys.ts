// API keys for scripts and machine clients: `tdk_<16 hex id>_<43 base64url secret>`. The prefix tells a key
// from a JWT at a glance and lets secret scanners find leaked ones; the id finds the record; only the SHA-256
// of the secret is stored, and it is compared in constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyStore } from './api-key-store.js';
import type { Identity } from './identity.js';

export const API_KEY_PREFIX = 'tdk_';
const API_KEY = /^tdk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();

/** A new key: its id (public), and the whole key, which is shown once and never stored. */
export function newApiKey(): { id: string; secretSha256: Buffer; key: string } {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, secretSha256: sha256(secret), key: `${API_KEY_PREFIX}${id}_${secret}` };
}

export const looksLikeApiKey = (token: string): boolean => token.startsWith(API_KEY_PREFIX);

/** The identity of a valid, unrevoked key; undefined for anything else (malformed, unknown, revoked, forged). */
export async function verifyApiKey(store: ApiKeyStore, token: string): Promise<Identity | undefined> {
  const match = API_KEY.exec(token);
  if (!match) return undefined;
  const record = await store.find(match[1]!);
  if (!record || record.revoked_at !== null) return undefined;
  if (!timingSafeEqual(sha256(match[2]!), record.secretSha256)) return undefined;
  return { owner: record.owner, scopes: new Set(record.scopes), via: 'apikey' };
}
