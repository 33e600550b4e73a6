// Child process of lib/load.mjs when wrk is not available: runs one autocannon load (pinned to the
// load-generator CPU by the parent) and prints the result as one JSON line on stdout, in the same shape
// as the wrk runner. Argument: a JSON job { url, scenario, params, seconds, connections }.

import autocannon from 'autocannon';
import { SCENARIOS, requestFactory } from './scenarios.mjs';

const job = JSON.parse(process.argv[2]);
const scenario = SCENARIOS.find((s) => s.name === job.scenario);
if (!scenario) throw new Error(`unknown scenario ${job.scenario}`);

const next = requestFactory(scenario, job.params);

const started = performance.now();
const result = await autocannon({
  url: job.url,
  connections: job.connections,
  duration: job.seconds,
  timeout: 5,
  // One request template whose setupRequest is called before every request: it decides method, path
  // and body (random ids, request mix) like the wrk Lua scripts.
  requests: [
    {
      setupRequest: (req) => {
        const r = next();
        return { ...req, ...r, headers: { ...req.headers, ...r.headers } };
      },
    },
  ],
});
const seconds = (performance.now() - started) / 1000;

const total = result.requests.total;
process.stdout.write(
  JSON.stringify({
    tool: 'autocannon',
    requests: total,
    seconds,
    rps: total / seconds,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.average,
    },
    errors: { status: result.non2xx, socket: result.errors, total: result.non2xx + result.errors },
  }) + '\n',
);
