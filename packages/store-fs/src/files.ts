import { constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chmod, link, lstat, open, readdir, readlink, rename, stat, unlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { GatewayError, defineError } from '@agent-mcp-gateway/core';
import type { z } from 'zod';
import { describeIssues, dropNulls } from './schemas.js';

export const DIR_MODE = 0o700;
export const FILE_MODE = 0o600;
const CHECK_MODES = process.platform !== 'win32';
/** Who we are, for the owner checks; undefined where there are no uids (Windows). */
const UID = CHECK_MODES ? process.getuid?.() : undefined;
/** Reads never follow a symlink nor block on a FIFO someone put in place of a file. */
const READ_FLAGS = CHECK_MODES ? constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK : constants.O_RDONLY;

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

/** The store's own folder (`dir`), or one key's folder in it: the checks are the same, the fixes differ. */
export type FolderRole = 'token folder' | 'key folder';

/**
 * A token folder or key folder the store refuses to use: a symbolic link (whoever
 * can point it elsewhere decides where tokens are read from and written to), not
 * a folder, or owned by another account. CONFIG_INVALID; the message names the
 * path, what is wrong and how to fix it (paths only, never stored content).
 * `problem` is the short form for `list()`. Its code and reason are {@link tokenDirUnsafe}'s or
 * {@link keyDirUnsafe}'s.
 */
export class UnsafeFolderError extends GatewayError {
  constructor(
    readonly folder: string,
    readonly role: FolderRole,
    readonly problem: string,
    fix: string,
  ) {
    const template = role === 'token folder' ? tokenDirUnsafe : keyDirUnsafe;
    super(template.code, template.message(folder, problem, fix), template.details(folder, problem, fix));
  }
}

function unsafeFolder(reason: string, label: string) {
  return defineError({
    code: 'CONFIG_INVALID',
    reason,
    message: (folder: string, problem: string, fix: string) => `${label} ${folder} ${problem}: ${fix}`,
    details: () => ({ path: 'tokenDir' }),
  });
}

/** CONFIG_INVALID, `reason: 'token_dir_unsafe'`: the store's folder (`tokenDir`) is a link, not a folder, or not ours. */
export const tokenDirUnsafe = unsafeFolder('token_dir_unsafe', 'Token folder');
/** CONFIG_INVALID, `reason: 'key_dir_unsafe'`: one key's folder inside it is. */
export const keyDirUnsafe = unsafeFolder('key_dir_unsafe', 'Key folder');

function quote(path: string): string {
  return `'${path.replace(/'/g, `'\\''`)}'`;
}

const SET_DIR = 'set GATEWAY_TOKEN_DIR (or the "tokenDir" setting)';

async function refuseLink(path: string, role: FolderRole): Promise<never> {
  const target = await readlink(path).catch(() => undefined);
  const problem = `is a symbolic link${target !== undefined ? ` (to ${target})` : ''}`;
  throw new UnsafeFolderError(
    path,
    role,
    problem,
    role === 'token folder'
      ? `the gateway does not follow a link for its token folder. ${target !== undefined ? `Either ${SET_DIR} to the real folder, ${target}, or replace the link by that folder (rm ${quote(path)} && mv ${quote(target)} ${quote(path)})` : `Replace the link by a folder of your own, or ${SET_DIR} to one`}`
      : `the store does not follow links inside its folder and writes nothing through them. Remove the link (rm ${quote(path)}); the entry is then stored afresh by the next login or \`secret set\``,
  );
}

/**
 * Checks a token folder or key folder without following a link: absent → false;
 * a folder of ours → true, tightened to 0700 when looser (with a warning).
 * @throws UnsafeFolderError for a symbolic link, something that is not a folder, or a folder owned by another account.
 */
export async function checkDir(path: string, warn: Warn, role: FolderRole = 'key folder'): Promise<boolean> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
  if (st.isSymbolicLink()) await refuseLink(path, role);
  if (!st.isDirectory()) {
    throw new UnsafeFolderError(
      path,
      role,
      'exists and is not a folder',
      role === 'token folder' ? `move it away, or ${SET_DIR} to a folder` : `move it away (mv ${quote(path)} ${quote(`${path}.bak`)})`,
    );
  }
  if (UID !== undefined && st.uid !== UID) {
    throw new UnsafeFolderError(
      path,
      role,
      `is owned by uid ${st.uid}, not by you (uid ${UID})`,
      `another account could read or replace the tokens in it. ${
        role === 'token folder' ? `Use a folder of your own (${SET_DIR}), or` : `Remove it (rm -r ${quote(path)}) and log in again, or`
      } if it is yours, take it back: chown -R ${UID} ${quote(path)}`,
    );
  }
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

/** Which file was read: a corrupt file is moved aside only while the path still names that one. */
export interface FileIdentity {
  readonly dev: number;
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
}

export type ReadResult<T> =
  | { state: 'absent' }
  | { state: 'ok'; value: T }
  /** `corrupt`: read, but its content is not what the store wrote (empty, not JSON, wrong shape); `identity` set then. */
  | { state: 'bad'; reason: string; signature: string; corrupt?: FileIdentity };

/**
 * Read and validate one JSON file, without following a symbolic link. Never puts
 * the file's content in a reason: JSON.parse messages quote the text, so they are
 * not used.
 */
export async function readJsonFile<S extends z.ZodType>(
  path: string,
  schema: S,
  warn: Warn,
): Promise<ReadResult<z.output<S>>> {
  let fh;
  try {
    fh = await open(path, READ_FLAGS);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') return { state: 'absent' };
    // O_NOFOLLOW on a link: ELOOP (Linux, macOS), EMLINK (FreeBSD).
    if (code === 'ELOOP' || code === 'EMLINK') return { state: 'bad', reason: 'a symbolic link, not followed', signature: `open:${code}` };
    return { state: 'bad', reason: `unreadable (${code ?? 'error'})`, signature: `open:${code}` };
  }
  try {
    const st = await fh.stat();
    const signature = `${st.size}:${st.mtimeMs}`;
    if (!st.isFile()) return { state: 'bad', reason: 'not a regular file', signature };
    if (UID !== undefined && st.uid !== UID) return { state: 'bad', reason: `owned by uid ${st.uid}, not by you`, signature };
    await fixMode(path, st.mode, FILE_MODE, (m) => fh.chmod(m), warn);
    const corrupt: FileIdentity = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
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
      return { state: 'bad', reason: text.trim() === '' ? 'empty' : 'not valid JSON', signature, corrupt };
    }
    const parsed = schema.safeParse(dropNulls(json));
    if (!parsed.success) return { state: 'bad', reason: `unexpected content (${describeIssues(parsed.error)})`, signature, corrupt };
    return { state: 'ok', value: parsed.data };
  } finally {
    await fh.close();
  }
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** `2025-01-31T12-00-00.000Z`: sortable, and without the `:` that Windows file names cannot hold. */
function stamp(now: Date): string {
  return now.toISOString().replace(/:/g, '-');
}

/**
 * Moves a corrupt file aside to `<file>.corrupt-<timestamp>` (kept 0600 for the
 * user to inspect or delete), so that no later write replaces or removes it.
 * Only while `path` still names the file that was read: a file another process
 * wrote meanwhile stays. Returns the new path, or undefined when there was
 * nothing (left) to move — another process moved or replaced it first.
 */
export async function moveAside(path: string, identity: FileIdentity, now = new Date()): Promise<string | undefined> {
  const current = await lstat(path).catch(() => undefined);
  if (!current?.isFile() || !sameFile(identity, current)) return undefined;
  let aside = `${path}.corrupt-${stamp(now)}`;
  for (let n = 1; await lstat(aside).then(() => true, () => false); n++) aside = `${path}.corrupt-${stamp(now)}-${n}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  // Between the check and the rename another process may have put a fresh file in place: give it back.
  const moved = await lstat(aside).catch(() => undefined);
  if (moved && !sameFile(identity, moved)) {
    // link() does not replace: when a newer file is there already (EEXIST), this one is superseded.
    const back = await link(aside, path).then(
      () => true,
      (err: unknown) => errorCode(err) === 'EEXIST',
    );
    if (back) await unlink(aside).catch(() => undefined);
    return undefined;
  }
  await syncDir(join(path, '..'));
  return aside;
}

