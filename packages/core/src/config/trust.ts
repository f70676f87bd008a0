/**
 * The trust store: the project folders whose gateway files the user has approved
 * (`agent-mcp-gateway trust`), each with the SHA-256 of every file as approved.
 * It lives in the user's folder (`~/.config/agent-mcp-gateway/trusted.json`), never
 * in a project, and is written atomically with mode 0600.
 *
 * A folder is trusted while its set of gateway files is exactly the recorded one
 * with the recorded contents: a changed, added or removed file makes it untrusted
 * again (see `projectTrust` in ./project-trust.ts). An unreadable store trusts nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

/** The store's file name, in the user's folder. */
export const TRUST_STORE_FILE = 'trusted.json';

/** One approved folder: when, and each file (path relative to the folder) → `sha256:<hex>`. */
export interface TrustedFolder {
  readonly trustedAt: string;
  readonly files: Readonly<Record<string, string>>;
}

/** Approved folders by absolute path. */
export type TrustStore = ReadonlyMap<string, TrustedFolder>;

const HASH = /^sha256:[0-9a-f]{64}$/;
const StoreSchema = z.object({
  version: z.literal(1),
  folders: z.record(
    z.string(),
    z.object({ trustedAt: z.string(), files: z.record(z.string(), z.string().regex(HASH)) }),
  ),
});

/** `sha256:<hex>` of a file's bytes (or a text's UTF-8 bytes). */
export function hashContent(content: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(content).digest('hex')}`;
}

/** Where the store is: `<userDir>/trusted.json`. */
export function trustStorePath(userDir: string): string {
  return join(userDir, TRUST_STORE_FILE);
}

/**
 * Reads the store. No file: nothing is trusted. A file that cannot be read or is not
 * a valid store: nothing is trusted either, and `problem` says why (fail closed).
 */
export function readTrustStore(userDir: string): { store: TrustStore; problem?: string } {
  const file = trustStorePath(userDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { store: new Map() };
    return { store: new Map(), problem: `${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); no project folder is trusted` };
  }
  let parsed: z.infer<typeof StoreSchema>;
  try {
    parsed = StoreSchema.parse(JSON.parse(text));
  } catch {
    return { store: new Map(), problem: `${file}: not a valid trust store; no project folder is trusted (run 'agent-mcp-gateway trust' again in the folders you trust)` };
  }
  return { store: new Map(Object.entries(parsed.folders)) };
}

/** Writes the store atomically (temporary file + rename), folder 0700, file 0600. */
export function writeTrustStore(userDir: string, store: TrustStore): string {
  const file = trustStorePath(userDir);
  mkdirSync(userDir, { recursive: true, mode: 0o700 });
  const folders: Record<string, TrustedFolder> = {};
  for (const [dir, entry] of [...store].sort(([a], [b]) => a.localeCompare(b))) {
    Object.defineProperty(folders, dir, { value: entry, enumerable: true, writable: true, configurable: true });
  }
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify({ version: 1, folders }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    renameSync(tmp, file);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
  return file;
}
