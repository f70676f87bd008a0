import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { ScopedStorage } from '@agent-mcp-gateway/core';
import { errorCode } from './files.js';

export interface LockSettings {
  /** The key folder, for messages. */
  readonly folder: string;
  /** Canonical path locked (`<realpath(dir)>/<key>`); the lock itself is the folder `<target>.lock`. */
  readonly target: string;
  readonly timeoutMs: number;
  readonly staleMs: number;
  readonly warn: (message: string) => void;
  readonly onWait?: (folder: string) => void;
}

const FIRST_DELAY_MS = 25;
const MAX_DELAY_MS = 250;

/**
 * In-process FIFO per locked path. proper-lockfile keeps one lock per path per
 * process, so two sections of one process must never race for it: they queue
 * here first, and only the head of the queue takes the file lock.
 */
interface LocalQueue {
  held: boolean;
  waiters: Array<() => void>;
}
const queues = new Map<string, LocalQueue>();

/** Paths locked by the current async context: a nested withLock on one of them would deadlock. */
const heldHere = new ScopedStorage<ReadonlySet<string>>();

function timeoutError(s: LockSettings, holder: string): Error {
  return new Error(
    `Could not lock ${s.folder} within ${Math.round(s.timeoutMs / 100) / 10} s: the lock is held by ${holder}`,
  );
}

function acquireLocal(s: LockSettings, deadline: number): Promise<void> {
  let q = queues.get(s.target);
  if (!q) {
    q = { held: false, waiters: [] };
    queues.set(s.target, q);
  }
  if (!q.held) {
    q.held = true;
    return Promise.resolve();
  }
  const queue = q;
  return new Promise<void>((resolve, reject) => {
    const grant = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      const i = queue.waiters.indexOf(grant);
      if (i >= 0) queue.waiters.splice(i, 1);
      reject(timeoutError(s, 'another section of this process'));
    }, Math.max(0, deadline - Date.now()));
    queue.waiters.push(grant);
  });
}

function releaseLocal(target: string): void {
  const q = queues.get(target);
  if (!q) return;
  const next = q.waiters.shift();
  if (next) next();
  else queues.delete(target);
}

async function acquireFile(s: LockSettings, deadline: number, onCompromised: (err: Error) => void): Promise<() => Promise<void>> {
  let delay = FIRST_DELAY_MS;
  let waiting = false;
  for (;;) {
    try {
      return await lockfile.lock(s.target, { realpath: false, retries: 0, stale: s.staleMs, onCompromised });
    } catch (err) {
      if (errorCode(err) !== 'ELOCKED') {
        throw new Error(`Could not lock ${s.folder}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (!waiting) {
      waiting = true;
      s.onWait?.(s.folder);
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) throw timeoutError(s, 'another process');
    // Exponential backoff with jitter, capped small so a freed lock is noticed quickly.
    await sleep(Math.min(remaining, delay * (0.5 + Math.random() / 2)));
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
}

/**
 * Run `fn` holding the lock on `s.target`: exclusive across async sections of
 * this process (queue) and across processes (proper-lockfile: a `.lock` folder
 * made with mkdir, its mtime refreshed while held; one older than `staleMs` is
 * a dead holder's and is taken over). Released when `fn` settles, thrown or not.
 */
export async function withFileLock<T>(s: LockSettings, fn: () => Promise<T>): Promise<T> {
  const held = heldHere.getStore();
  if (held?.has(s.target)) {
    throw new Error(`withLock on ${s.folder} called inside its own locked section: the lock is not reentrant`);
  }
  const deadline = Date.now() + s.timeoutMs;
  await acquireLocal(s, deadline);
  try {
    let compromised = false;
    const release = await acquireFile(s, deadline, (err) => {
      compromised = true;
      s.warn(`${s.folder}: lock lost while held (${err.message}); another process may have entered`);
    });
    try {
      return await heldHere.run(new Set([...(held ?? []), s.target]), fn);
    } finally {
      try {
        await release();
      } catch (err) {
        if (!compromised) s.warn(`${s.folder}: lock could not be released (${errorCode(err) ?? (err as Error).message})`);
      }
    }
  } finally {
    releaseLocal(s.target);
  }
}
