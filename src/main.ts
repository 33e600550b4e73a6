// Process entry point. `node dist/main.cjs` runs the service (everything happens in run()); the container
// also needs two one-shot subcommands from the same file: `migrate [status]` (a Kubernetes Job) and
// `healthcheck` (the image's HEALTHCHECK, with no curl in a distroless image).
import { healthcheckCommand } from './healthcheck.js';
import { migrateCommand } from './migrate.js';
import { run } from './run.js';

const [command, ...args] = process.argv.slice(2);
if (command === 'migrate') void migrateCommand(args);
else if (command === 'healthcheck') healthcheckCommand();
else void run();
