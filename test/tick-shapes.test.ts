// The tick keeper (src/tick-shapes.ts): it holds a nextTick queue entry, and that keeps the inline caches of
// Node's nextTick literal monomorphic across full garbage collections. The second part reads V8's own view
// of those caches (%DebugPrint of process.nextTick, in a child started with --allow-natives-syntax) after
// the pattern that breaks them: a full collection with no tick alive, then ticks again, ten times over.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { heldTick, keepTickShapes } from '../src/tick-shapes.js';
import { tempDir } from './helpers.js';

const MODULE = fileURLToPath(new URL('../src/tick-shapes.ts', import.meta.url));

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('tick keeper', () => {
  it('holds a nextTick queue entry while used, and lets it go when the last user stops', async () => {
    const stopFirst = keepTickShapes();
    const stopSecond = keepTickShapes();
    await nextTurn();
    const held = heldTick();
    assert.ok(held, 'an entry is held after the first tick');
    const keys = Object.getOwnPropertySymbols(held).map(String);
    assert.ok(keys.includes('Symbol(async_id_symbol)'), `a tick object, not another async resource: ${keys.join(', ')}`);
    assert.equal(typeof (held as { callback?: unknown }).callback, 'function');

    stopFirst();
    stopFirst(); // a second call of the same stop does not count twice
    assert.equal(heldTick(), held, 'still held while another user keeps it');
    stopSecond();
    assert.equal(heldTick(), undefined);
  });

  /** After the breaking pattern: the states of the caches of the literal's properties, and what V8 printed. */
  function literalCacheStates(keep: boolean): { states: string[]; printed: string } {
    const script = `
      const { keepTickShapes } = await import(${JSON.stringify(MODULE)});
      if (${keep}) keepTickShapes();
      await new Promise((resolve) => setImmediate(resolve));
      for (let i = 0; i < 10; i++) {
        await new Promise((resolve) => setImmediate(resolve));
        globalThis.gc();
        for (let j = 0; j < 3; j++) process.nextTick(() => {});
      }
      await new Promise((resolve) => setImmediate(resolve));
      eval('%DebugPrint(process.nextTick)');
    `;
    // The probe runs from a file and prints into one: V8 prints with C's stdio, which Node does not flush
    // after an -e script, and which loses output written into a non-blocking pipe.
    const dir = tempDir();
    const file = join(dir, 'probe.mjs');
    const output = join(dir, 'out.txt');
    writeFileSync(file, script);
    const out = openSync(output, 'w');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--allow-natives-syntax', '--expose-gc', file], {
      stdio: ['ignore', out, 'pipe'],
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH },
    });
    closeSync(out);
    const printed = readFileSync(output, 'utf8');
    rmSync(dir, { recursive: true, force: true });
    assert.equal(child.status, 0, child.stderr);
    return { states: [...printed.matchAll(/DefineKeyedOwnPropertyInLiteral (\w+)/g)].map((match) => match[1]!), printed };
  }

  it('without it, the literal caches go megamorphic (the case it exists for)', () => {
    const { states, printed } = literalCacheStates(false);
    assert.ok(states.length > 0, `V8 printed the feedback of nextTick: ${printed.slice(0, 3000)}`);
    assert.ok(states.includes('MEGAMORPHIC'), `expected a megamorphic cache: ${states.join(', ')}`);
  });

  it('with it, they stay monomorphic', () => {
    const { states, printed } = literalCacheStates(true);
    assert.ok(states.length > 0, `V8 printed the feedback of nextTick: ${printed.slice(0, 3000)}`);
    assert.deepEqual(new Set(states), new Set(['MONOMORPHIC']), `states: ${states.join(', ')}`);
  });
});
