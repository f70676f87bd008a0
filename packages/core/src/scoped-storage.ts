import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * An `AsyncLocalStorage` that is switched off whenever none of its runs is in progress. On Node 20 an
 * enabled `AsyncLocalStorage` keeps the process's promise hooks on, for every promise of every call
 * (≈ 3× the cost of an `await`), until it is disabled: a value scoped to rare work (a tool listing, a
 * locked store section) must not tax the hot path after that work is over. A continuation that outlives
 * its run reads `undefined`.
 */
export class ScopedStorage<T> {
  private readonly storage = new AsyncLocalStorage<T>();
  private running = 0;

  /** The value of the run this code is part of; undefined outside any. */
  getStore(): T | undefined {
    return this.storage.getStore();
  }

  /** Runs `fn` with `value` in scope, for it and everything it awaits. */
  async run<R>(value: T, fn: () => Promise<R>): Promise<R> {
    this.running += 1;
    try {
      return await this.storage.run(value, fn);
    } finally {
      this.running -= 1;
      if (this.running === 0) this.storage.disable();
    }
  }
}
