// `node dist/main.cjs apikey …` (`npm run apikey -- …`): API keys for scripts and machine clients.
//   apikey create --owner <id> [--scopes todos:read,todos:write] [--name <label>]
//       prints the new key once, alone on the last line of stdout (only its hash is stored)
//   apikey list            every key: id, owner, scopes, name, created, revoked
//   apikey revoke <id>     the key stops working at once, on every replica
// The database is DATABASE_URL's; pending migrations are applied first (as the service does at start).
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig, withDotEnv } from '../config.js';
import { openStorage } from '../storage/index.js';
import { createLogger } from '../telemetry/logger.js';
import { newApiKey } from './api-keys.js';
import { ALL_SCOPES } from './identity.js';

const USAGE = `usage: apikey create --owner <id> [--scopes ${ALL_SCOPES.join(',')}] [--name <label>]
       apikey list
       apikey revoke <id>`;

async function apikey(args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    options: { owner: { type: 'string' }, scopes: { type: 'string', default: ALL_SCOPES.join(',') }, name: { type: 'string', default: '' } },
    allowPositionals: true,
  });
  if (command !== 'create' && command !== 'list' && command !== 'revoke') throw new Error(USAGE);
  const config = loadConfig(withDotEnv(process.env));
  const logger = await createLogger({ ...config.log, level: 'warn' }, pino.destination({ dest: 2, sync: true }));
  const storage = await openStorage(config, logger);
  try {
    if (command === 'create') {
      const owner = values.owner?.trim();
      if (!owner) throw new Error(`--owner is required\n${USAGE}`);
      const scopes = values.scopes.split(',').map((s) => s.trim()).filter(Boolean);
      const unknown = scopes.filter((s) => !(ALL_SCOPES as readonly string[]).includes(s));
      if (unknown.length > 0 || scopes.length === 0) throw new Error(`--scopes: use ${ALL_SCOPES.join(', ')} (got ${values.scopes})`);
      const { id, secretSha256, key } = newApiKey();
      await storage.apiKeys.insert({ id, owner, scopes, name: values.name, secretSha256 });
      process.stdout.write(`API key ${id} for owner ${owner} (${scopes.join(' ')}). It is shown once; store it now:\n${key}\n`);
    } else if (command === 'list') {
      for (const k of await storage.apiKeys.list()) {
        const state = k.revoked_at ? `revoked ${k.revoked_at}` : 'active';
        process.stdout.write(`${k.id}  ${k.owner}  ${k.scopes.join(',')}  ${JSON.stringify(k.name)}  created ${k.created_at}  ${state}\n`);
      }
    } else {
      const id = positionals[0];
      if (!id) throw new Error(`the key id to revoke is missing\n${USAGE}`);
      if (!(await storage.apiKeys.revoke(id))) throw new Error(`no active API key ${id}`);
      process.stdout.write(`API key ${id} revoked\n`);
    }
  } finally {
    await storage.close();
  }
}

export async function apikeyCommand(args: string[]): Promise<void> {
  try {
    await apikey(args);
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : `apikey: ${(error as Error).message}`}\n`);
    process.exitCode = 1;
  }
}
