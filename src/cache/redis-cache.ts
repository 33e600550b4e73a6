// A shared read cache in Redis for single todos and list pages, coherent across replicas.
//
// Every entry key embeds generation numbers that writers bump AFTER their database commit and BEFORE they
// answer: `todo:<id>` entries embed that todo's generation, list pages embed the list generation, and all
// embed a global epoch. A reader fetches the generations and the entry in one round trip (a Lua script); on a
// miss it reads the database and stores the result under the generations it fetched first. A reader that
// raced a writer therefore stores the old value under a generation nobody asks for once the writer's bump
// has happened — which precedes the writer's acknowledgement. The argument is written out in
// docs/DECISIONS.md.
//
// Redis down or slow: a command is abandoned after REDIS_TIMEOUT_MS, the cache is bypassed for a second, the
// outage is logged once, and requests go to the database. A replica that could not bump a generation moves
// the global epoch once Redis answers again, before it uses the cache, so its missed invalidations cannot
// resurface. And every connection (the first, and each after a reconnect) starts by moving the epoch before
// the first read: a Redis that comes back may hold what it held before (its append-only file or snapshot, a
// promoted replica) while writes went to the database without bumping anything — including writes of another
// replica, which cannot bump for us. The epoch is set to a fresh random value rather than incremented, so a
// Redis restored from an older snapshot cannot move it back onto a value entries were written under.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';

export interface CacheOptions {
  url: string;
  keyPrefix: string;
  ttlSeconds: number;
  timeoutMs: number;
}

/** A read of one entry: the generations it was read under, and the value if there was one. */
export interface CacheRead {
  key: string;
  value: string | null;
}

const BYPASS_MS = 1000;

// KEYS: epoch, generation. ARGV: the entry key's base. Returns [entry key, value].
const READ_SCRIPT = `
local e = redis.call('GET', KEYS[1]) or '0'
local g = redis.call('GET', KEYS[2]) or '0'
local key = ARGV[1] .. ':e' .. e .. ':g' .. g
return {key, redis.call('GET', key)}`;

type ScriptedRedis = Redis & {
  cacheRead(epochKey: string, generationKey: string, base: string): Promise<[string, string | null]>;
};

export class RedisCache {
  private readonly redis: ScriptedRedis;
  private bypassUntil = 0;
  private down = false;
  /** Invalidations that may have been lost so far (counted); the epoch must move after the last of them. */
  private missedInvalidations = 0;
  /** The connection (socket) the epoch was last moved on, and the lost invalidations that move covered. */
  private epochMovedOn: unknown;
  private epochCovers = 0;
  private moving: Promise<void> | undefined;
  private readonly epochKey: string;
  private readonly generationTtlSeconds: number;
  private epochTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly options: CacheOptions,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly tracing: Tracing | undefined,
  ) {
    this.epochKey = `${options.keyPrefix}epoch`;
    // Generation keys outlive every entry written under them, so a generation that expires and restarts at 0
    // can never meet an entry from its earlier life.
    this.generationTtlSeconds = Math.max(3600, options.ttlSeconds * 10);
    const redis = new Redis(options.url, {
      enableOfflineQueue: false, // while disconnected, commands fail at once instead of queueing
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeoutMs,
      connectTimeout: Math.max(1000, options.timeoutMs),
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000), // reconnect forever, gently
    });
    redis.defineCommand('cacheRead', { numberOfKeys: 2, lua: READ_SCRIPT });
    redis.on('error', (error: Error) => this.failed(error));
    this.redis = redis as ScriptedRedis;
  }

  key(...parts: (string | number)[]): string {
    return this.options.keyPrefix + parts.join(':');
  }

  /** Reads an entry under the current generations; undefined when the cache is bypassed. */
  async read(generationKey: string, base: string): Promise<CacheRead | undefined> {
    if (!(await this.usable())) return undefined;
    try {
      const [key, value] = await this.traced('cache read', () => this.redis.cacheRead(this.epochKey, generationKey, base));
      this.recovered();
      this.metrics.cacheEvent(value === null ? 'miss' : 'hit');
      return { key, value };
    } catch (error) {
      this.failed(error as Error);
      return undefined;
    }
  }

  /** Stores a value under the key a read returned. Fire and forget: a failure only costs a future miss. */
  write(key: string, value: string): void {
    this.redis.set(key, value, 'EX', this.options.ttlSeconds).then(
      () => this.recovered(),
      (error: Error) => this.failed(error),
    );
  }

  /** Bumps generations after a committed write; awaited before the write is acknowledged. */
  async invalidate(generationKeys: string[]): Promise<void> {
    try {
      const tx = this.redis.multi();
      for (const key of generationKeys) tx.incr(key).expire(key, this.generationTtlSeconds);
      const results = await this.traced('cache invalidate', () => tx.exec());
      const failed = results?.find(([error]) => error);
      if (!results || failed) throw failed?.[0] ?? new Error('redis transaction aborted');
      this.recovered();
    } catch (error) {
      // The bump may not have happened. Move the epoch as soon as Redis answers, which retires every entry.
      this.missedInvalidations++;
      this.failed(error as Error);
      this.retryEpochBump();
    }
  }

  /** Waits up to `ms` for the first connection; Redis being away at start is not fatal, only slower. */
  async connected(ms: number): Promise<boolean> {
    if (this.redis.status === 'ready') return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        resolve(false);
      }, ms);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.redis.once('ready', onReady);
    });
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.epochTimer);
    try {
      await this.redis.quit();
    } catch {
      this.redis.disconnect();
    }
  }

  /**
   * False while bypassing; otherwise waits until the epoch has moved on this connection and after every lost
   * invalidation, so no entry from before can answer.
   */
  private async usable(): Promise<boolean> {
    if (Date.now() < this.bypassUntil || this.redis.status !== 'ready') return false;
    if (!this.epochStale()) return true;
    try {
      await this.epochCurrent();
      return true;
    } catch (error) {
      this.failed(error as Error);
      return false;
    }
  }

  private epochStale(): boolean {
    return this.epochMovedOn !== this.redis.stream || this.epochCovers !== this.missedInvalidations;
  }

  /** Moves the epoch until it is current (one move at a time, shared by every waiting read); throws if Redis fails. */
  private async epochCurrent(): Promise<void> {
    while (this.epochStale()) {
      this.moving ??= this.moveEpoch().finally(() => {
        this.moving = undefined;
      });
      await this.moving;
    }
  }

  /** Keeps trying to move the epoch in the background until it works, so the window stays short. */
  private retryEpochBump(): void {
    if (this.epochTimer || this.closed) return;
    this.epochTimer = setTimeout(() => {
      this.epochTimer = undefined;
      if (!this.epochStale() || this.closed) return;
      if (this.redis.status !== 'ready') return this.retryEpochBump(); // other replicas may be reading meanwhile
      this.epochCurrent().catch(() => this.retryEpochBump());
    }, 250);
    this.epochTimer.unref();
  }

  /** Retires every cached entry of every replica by moving the epoch all keys embed to a value never used. */
  private async moveEpoch(): Promise<void> {
    const connection = this.redis.stream;
    const covers = this.missedInvalidations;
    const reconnected = connection !== this.epochMovedOn;
    await this.redis.set(this.epochKey, randomBytes(9).toString('base64url'));
    this.epochMovedOn = connection;
    this.epochCovers = covers;
    this.recovered();
    this.logger.info({ reason: reconnected ? 'new connection' : 'missed invalidations' }, 'redis: epoch moved; cached entries from before are ignored');
  }

  /** Runs a Redis call in a client span under the request's span (tracing on). */
  private traced<T>(name: string, call: () => Promise<T>): Promise<T> {
    return this.tracing ? this.tracing.clientSpan(name, { 'db.system.name': 'redis' }, call) : call();
  }

  private failed(error: Error): void {
    this.metrics.cacheEvent('error');
    this.bypassUntil = Date.now() + BYPASS_MS;
    if (!this.down) {
      this.down = true;
      this.logger.warn({ err: error.message }, 'redis: unavailable, bypassing the cache until it answers again');
    }
  }

  private recovered(): void {
    if (this.down) {
      this.down = false;
      this.logger.info('redis: answering again, cache back in use');
    }
  }
}
