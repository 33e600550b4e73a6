// Process entry point. `node dist/main.cjs` runs the service (everything happens in run());
// `node dist/main.cjs migrate [status]` is the one-shot schema migration (npm run migrate, a Kubernetes Job);
// `node dist/main.cjs apikey create|list|revoke` manages API keys (npm run apikey).
// The image HEALTHCHECK is a separate tiny bundle, dist/healthcheck.cjs (src/healthcheck.ts).
import { apikeyCommand } from './auth/apikey-command.js';
import { migrateCommand } from './migrate.js';
import { run } from './run.js';

const [command, ...args] = process.argv.slice(2);
if (command === 'migrate') void migrateCommand(args);
else if (command === 'apikey') void apikeyCommand(args);
else void run();
