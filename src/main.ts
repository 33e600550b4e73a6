// Process entry point. `node dist/main.cjs` runs the service (everything happens in run());
// `node dist/main.cjs migrate [status]` is the one-shot schema migration (npm run migrate, a Kubernetes Job).
// The image HEALTHCHECK is a separate tiny bundle, dist/healthcheck.cjs (src/healthcheck.ts).
import { migrateCommand } from './migrate.js';
import { run } from './run.js';

const [command, ...args] = process.argv.slice(2);
if (command === 'migrate') void migrateCommand(args);
else void run();
