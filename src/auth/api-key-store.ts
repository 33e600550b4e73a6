// The storage contract for API keys. Each backend keeps them in its `api_keys` table: the key's id, owner,
// scopes and the SHA-256 of its secret part — never the key itself.
export interface ApiKeyRecord {
  /** The public part of the key (also in the key itself): how it is found, listed and revoked. */
  id: string;
  owner: string;
  scopes: string[];
  /** A label for humans ("ci deploy bot"). */
  name: string;
  secretSha256: Buffer;
  created_at: string;
  revoked_at: string | null;
}

export interface ApiKeyStore {
  insert(record: Omit<ApiKeyRecord, 'created_at' | 'revoked_at'>): Promise<void>;
  find(id: string): Promise<ApiKeyRecord | undefined>;
  list(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked; false when no such key exists or it already was. */
  revoke(id: string): Promise<boolean>;
}
