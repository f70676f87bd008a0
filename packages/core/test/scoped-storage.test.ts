import { describe, expect, it } from 'vitest';
import { ScopedStorage } from '../src/index.js';

describe('ScopedStorage', () => {
  it('gives each run its value through what it awaits; overlapping runs keep theirs until the last one ends', async () => {
    const storage = new ScopedStorage<string>();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const seen: (string | undefined)[] = [];
    const a = storage.run('a', async () => {
      await gate; // b starts and ends meanwhile: its end must not switch a's scope off
      await new Promise((resolve) => setTimeout(resolve, 1));
      seen.push(storage.getStore());
    });
    await storage.run('b', async () => {
      await new Promise((resolve) => setImmediate(resolve));
      seen.push(storage.getStore());
    });
    open();
    await a;
    expect(seen).toEqual(['b', 'a']);
    expect(storage.getStore()).toBeUndefined();
  });

  it('a nested run sees its own value, then the outer one again; a throw still ends the run', async () => {
    const storage = new ScopedStorage<number>();
    const seen: (number | undefined)[] = [];
    await storage.run(1, async () => {
      await storage.run(2, async () => {
        await null;
        seen.push(storage.getStore());
      });
      seen.push(storage.getStore());
      await expect(storage.run(3, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      seen.push(storage.getStore());
    });
    expect(seen).toEqual([2, 1, 1]);
    await storage.run(4, async () => {
      await null;
      seen.push(storage.getStore()); // switched on again after having been off
    });
    expect(seen.at(-1)).toBe(4);
  });
});
