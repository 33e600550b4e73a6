// `npm run migrate` (or `node dist/migrate.cjs` in the image, e.g. as a Kubernetes Job): applies pending
// migrations under the same advisory lock the service takes, then prints the status of every migration.
// `node dist/migrate.cjs status` only prints. Logs go to stderr, the status table to stdout. Exit 1 on failure.
import pino from 'pino';
import { ConfigError, loadConfig, withDotEnv } from './config.js';
import { connectStorage } from './storage/index.js';
import { createLogger } from './telemetry/logger.js';

async function main(command: string | undefined): Promise<void> {
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

main(process.argv[2]).catch((error: unknown) => {
  process.stderr.write(`${error instanceof ConfigError ? error.message : `migrate failed: ${(error as Error).message}`}\n`);
  process.exit(1);
});
