// Keeps one of process.nextTick's queue entries alive, so that V8 keeps their hidden classes and the object
// literal in Node's nextTick stays fast.
//
// Every request schedules several ticks (Node's streams do), and each tick is a small object literal with
// symbol keys, built property by property, with an inline cache per property that remembers the hidden class
// ("map") it saw. Those maps are held only weakly: by the objects, the transition tree and the caches. The
// tick objects live for microseconds, so a full garbage collection that finds none of them alive frees the
// maps, the next tick builds new ones, and after a few such collections the caches give up (megamorphic):
// every tick then takes V8's generic path, and under load often its runtime. Measured on Node 24, get by id,
// side by side, the build without this served 0.86 of this one's requests with telemetry off and 0.89 with
// metrics and tracing on, whose waiting spans make full collections more frequent (docs/DECISIONS.md,
// "Performance and memory").
//
// One live tick object keeps its map and, through the maps' back pointers, the whole chain. The entry is
// taken again every second: should the ticks move to a new chain later (a field that changes representation,
// as the async ids would past 2³¹), the kept entry follows them.
import { executionAsyncResource } from 'node:async_hooks';

const REFRESH_MS = 1000;

let users = 0;
let timer: NodeJS.Timeout | undefined;
let held: object | undefined;

/** Inside a nextTick callback, the resource of the running async context is that tick's queue entry. */
function capture(): void {
  held = executionAsyncResource();
}

/** The entry being kept (for tests); undefined until the first tick ran. */
export function heldTick(): object | undefined {
  return held;
}

/**
 * Starts keeping (once per process, however many services run in it) and returns the function that stops
 * this caller's use; the last one to stop ends it.
 */
export function keepTickShapes(): () => void {
  if (users++ === 0) {
    process.nextTick(capture);
    timer = setInterval(() => process.nextTick(capture), REFRESH_MS).unref();
  }
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    if (--users === 0) {
      clearInterval(timer);
      timer = undefined;
      held = undefined;
    }
  };
}
