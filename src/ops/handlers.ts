// `GET /` and `GET /health`: what runs, since when, on what, and how much memory it holds.
import { isoNow } from '../clock.js';
import type { BuildInfo } from '../build-info.js';

export interface SystemDeps {
  env: string;
  version: string;
  build: BuildInfo;
  /** "METHOD path" → summary, from the route table. */
  endpoints: () => Record<string, string>;
}

// performance.now() counts from the start of the process: it is the uptime.
const MB = 1024 * 1024;
const round1 = (n: number) => Math.round(n * 10) / 10;

/** Formats milliseconds the way Go's time.Duration prints: 1h2m3.456s, 4.5s, 120ms. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${Number(ms.toFixed(3))}ms`;
  let seconds = ms / 1000;
  const h = Math.floor(seconds / 3600);
  seconds -= h * 3600;
  const m = Math.floor(seconds / 60);
  seconds -= m * 60;
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${Number(seconds.toFixed(3))}s`;
}

/** process.memoryUsage() reads /proc on every call; a snapshot at most a second old is plenty for /health. */
function memorySampler(): () => NodeJS.MemoryUsage {
  let sample = process.memoryUsage();
  let takenAt = performance.now();
  return () => {
    const now = performance.now();
    if (now - takenAt > 1000) {
      sample = process.memoryUsage();
      takenAt = now;
    }
    return sample;
  };
}

export function systemHandlers(deps: SystemDeps) {
  const memory = memorySampler();
  const platform = `${process.platform}/${process.arch}`;
  const build = { commit: deps.build.commit, commit_time: deps.build.commit_time, dirty: deps.build.dirty };

  return {
    info: () => {
      const uptimeMs = performance.now();
      const m = process.memoryUsage();
      return {
        message: 'Todo API (TypeScript) is running',
        version: deps.version,
        environment: deps.env,
        runtime: process.version,
        platform,
        uptime: goDuration(uptimeMs),
        uptime_seconds: round1(uptimeMs / 1000),
        memory: {
          rss_bytes: m.rss,
          heap_used_bytes: m.heapUsed,
          heap_total_bytes: m.heapTotal,
          external_bytes: m.external,
        },
        timestamp: isoNow(),
        endpoints: deps.endpoints(),
      };
    },

    health: () => {
      const uptimeMs = performance.now();
      const m = memory();
      return {
        status: 'healthy' as const,
        timestamp: isoNow(),
        uptime: goDuration(uptimeMs),
        uptime_seconds: round1(uptimeMs / 1000),
        version: deps.version,
        runtime: process.version,
        memory: { rss_mb: round1(m.rss / MB), heap_used_mb: round1(m.heapUsed / MB), heap_total_mb: round1(m.heapTotal / MB) },
        build,
      };
    },
  };
}
