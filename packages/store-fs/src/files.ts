import { randomBytes } from 'node:crypto';
import { chmod, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { z } from 'zod';
import { describeIssues, dropNulls } from './schemas.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const CHECK_MODES = process.platform !== 'win32';

/** `.tokens.json.<16 hex>.tmp`: a write in progress, or left by a crash. */
const TEMP_RE = /^\..+\.[0-9a-f]{16}\.tmp$/;
/** A temp file older than this is a leftover, not a write in progress. */
export const TEMP_LEFTOVER_MS = 60_000;

export type Warn = (message: string) => void;

export function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function octal(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** Tighten a folder or file found looser than `want` (group or other bits set). */
export async function fixMode(
  path: string,
  mode: number,
  want: number,
  chmod: (mode: number) => Promise<void>,
  warn: Warn,
): Promise<void> {
  if (!CHECK_MODES || (mode & 0o077) === 0) return;
  try {
    await chmod(want);
    warn(`${path}: permissions were ${octal(mode)}, set to ${octal(want)}`);
  } catch (err) {
    warn(`${path}: permissions are ${octal(mode)} and could not be set to ${octal(want)} (${errorCode(err) ?? 'error'})`);
  }
}

/** Stat a folder and tighten it to 0700. Returns false when it does not exist. */
export async function checkDir(path: string, warn: Warn): Promise<boolean> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (!st.isDirectory()) throw new Error(`${path} exists and is not a folder`);
  await fixMode(path, st.mode, DIR_MODE, (m) => chmod(path, m), warn);
  return true;
}

/**
 * Remove temp files left by an interrupted write (older than a minute: younger
 * ones may be another process's write in progress). Reported, never read.
 */
export async function sweepLeftovers(folder: string, warn: Warn, now = Date.now()): Promise<void> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return;
  }
  for (const name of names) {
    if (!TEMP_RE.test(name)) continue;
    const path = join(folder, name);
    try {
      const st = await stat(path);
      if (now - st.mtimeMs < TEMP_LEFTOVER_MS) continue;
      await unlink(path);
      warn(`${path}: leftover temporary file from an interrupted write, removed`);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') warn(`${path}: leftover temporary file could not be removed (${errorCode(err) ?? 'error'})`);
    }
  }
}

/**
 * Write `data` to `path` atomically: a temp file in the same folder (mode 0600,
 * flushed to disk), renamed over the target, then the folder flushed. A crash
 * leaves either the old file or the new one, never half of one.
 */
export async function writeFileAtomic(path: string, data: string): Promise<void> {
  const folder = join(path, '..');
  const temp = join(folder, `.${basename(path)}.${randomBytes(8).toString('hex')}.tmp`);
  const fh = await open(temp, 'wx', FILE_MODE);
  try {
    try {
      if (CHECK_MODES) await fh.chmod(FILE_MODE); // exactly 0600, whatever the umask
      await fh.writeFile(data, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => {});
    throw err;
  }
  await syncDir(folder);
}

async function syncDir(folder: string): Promise<void> {
  if (!CHECK_MODES) return; // Windows cannot open a folder for fsync
  let fh;
  try {
    fh = await open(folder, 'r');
    await fh.sync();
  } catch {
    // best effort: some file systems refuse fsync on a folder
  } finally {
    await fh?.close();
  }
}

export async function removeFile(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
}

export type ReadResult<T> =
  | { state: 'absent' }
  | { state: 'ok'; value: T }
  | { state: 'bad'; reason: string; signature: string };

/**
 * Read and validate one JSON file. Never puts the file's content in a reason:
 * JSON.parse messages quote the text, so they are not used.
 */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  warn: Warn,
): Promise<ReadResult<z.output<S>>> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') return { state: 'absent' };
    return { state: 'bad', reason: `unreadable (${code ?? 'error'})`, signature: `open:${code}` };
  }
  try {
    const st = await fh.stat();
    const signature = `${st.size}:${st.mtimeMs}`;
    if (!st.isFile()) return { state: 'bad', reason: 'not a regular file', signature };
    await fixMode(path, st.mode, FILE_MODE, (m) => fh.chmod(m), warn);
    let text: string;
    try {
      text = await fh.readFile('utf8');
    } catch (err) {
      return { state: 'bad', reason: `unreadable (${errorCode(err) ?? 'error'})`, signature };
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      return { state: 'bad', reason: text.trim() === '' ? 'empty' : 'not valid JSON', signature };
    }
    const parsed = schema.safeParse(dropNulls(json));
    if (!parsed.success) return { state: 'bad', reason: `unexpected content (${describeIssues(parsed.error)})`, signature };
    return { state: 'ok', value: parsed.data };
  } finally {
    await fh.close();
  }
}

