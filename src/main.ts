// Process entry point. Everything else happens in run().
import { run } from './run.js';

void run();
