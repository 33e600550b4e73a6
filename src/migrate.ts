// `node dist/main.cjs migrate` (`npm run migrate`; a Kubernetes Job in the image): applies pending migrations
// under the same advisory lock the service takes, then prints the status of every migration.
// `migrate status` only prints. Logs go to stderr, the status table to stdout. Exit 1 on failure.
import pino from 'pino';
import { ConfigError, loadConfig, withDotEnv } from './config.js';
import { connectStorage } from './storage/index.js';
import { createLogger } from './telemetry/logger.js';

async function migrate(command: string | undefined): Promise<void> {
  if (command !== undefined && command !== 'status' && command !== 'up') {
    throw new Error(`unknown command "${command}": use \`migrate\` (apply, the default) or \`migrate status\``);
  }
  const config = loadConfig(withDotEnv(process.env));
  const logger = await createLogger(config.log, pino.destination({ dest: 2, sync: true }));
  const storage = await connectStorage(config.database, logger);
  try {
    const applied = command === 'status' ? [] : await storage.migrate();
    const status = await storage.migrationStatus();
    process.stdout.write(`${storage.kind} schema: ${applied.length} migration(s) applied now\n`);
    for (const m of status) {
      process.stdout.write(`  ${String(m.version).padStart(4)}  ${m.name.padEnd(32)} ${m.applied_at ?? 'PENDING'}\n`);
    }
  } finally {
    await storage.close();
  }
}

export async function migrateCommand(args: string[]): Promise<void> {
  try {
    await migrate(args[0]);
  } catch (error) {
    process.stderr.write(`${error instanceof ConfigError ? error.message : `migrate failed: ${(error as Error).message}`}\n`);
    process.exitCode = 1;
  }
}
