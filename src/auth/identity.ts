// Who is calling: the owner whose todos a request sees, and what it may do. AUTH_MODE=none gives every request
// the same shared identity (the Go service's single list); jwt and apikey modes derive it from the bearer token.
export const READ_SCOPE = 'todos:read' as const;
export const WRITE_SCOPE = 'todos:write' as const;
export const ALL_SCOPES = [READ_SCOPE, WRITE_SCOPE] as const;
export type Scope = (typeof ALL_SCOPES)[number];

/** The owner of every todo in AUTH_MODE=none, and of every todo stored before owners existed. */
export const SHARED_OWNER = 'anonymous';

export interface Identity {
  /** Whose todos: the token's owner claim (`sub` by default), or the API key's owner. */
  owner: string;
  scopes: ReadonlySet<string>;
  /** How it was established; `none` is the shared identity of AUTH_MODE=none. */
  via: 'none' | 'jwt' | 'apikey';
}

export const SHARED_IDENTITY: Identity = Object.freeze({ owner: SHARED_OWNER, scopes: new Set<string>(ALL_SCOPES), via: 'none' as const });

/** Scopes from an access token: `scope` (a space-separated string, RFC 8693/9068) or `scp` (array or string). */
export function scopesOf(claims: Record<string, unknown>): Set<string> {
  const raw = claims.scope ?? claims.scp;
  const list = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw.filter((s): s is string => typeof s === 'string') : [];
  return new Set(list.filter(Boolean));
}
