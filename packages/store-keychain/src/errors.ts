import { GatewayError, defineError, errors } from '@agent-mcp-gateway/core';

/** Why the keychain cannot be used, and what to do about it. */
export interface KeychainFailure {
  readonly cause: string;
  readonly fix: string;
}

const FALLBACK_FIX = 'or keep tokens in files with GATEWAY_TOKEN_STORE=fs (the `tokenStore` setting)';

/** The catalogued reason of every "keychain unavailable" error, whatever its code. */
export const KEYCHAIN_UNAVAILABLE = 'keychain_unavailable';

/**
 * SERVER_UNAVAILABLE, `reason: 'keychain_unavailable'`: a server whose tokens live in the keychain
 * cannot start because the keychain cannot be reached ("Server 'x' is unavailable: keychain
 * unavailable: <cause>; <fix>").
 */
export const keychainUnavailable = defineError({
  code: 'SERVER_UNAVAILABLE',
  reason: KEYCHAIN_UNAVAILABLE,
  message: (server: string, failure: string) => errors.serverUnavailable(server, failure).message,
  details: (server: string) => ({ server }),
});

/**
 * The keychain cannot be reached: no D-Bus session, no Secret Service, a locked
 * collection, no native binding for this platform… The message reads
 * `keychain unavailable: <cause>; <fix>`; SERVER_UNAVAILABLE with
 * `reason: 'keychain_unavailable'` (no server: the store is not one server's).
 */
export class KeychainUnavailableError extends GatewayError {
  override readonly name = 'KeychainUnavailableError';
  /** What is wrong, e.g. "no D-Bus session bus …". */
  readonly problem: string;
  /** What to do about it. */
  readonly fix: string;

  constructor(failure: KeychainFailure, options?: { cause?: unknown }) {
    super(keychainUnavailable.code, `keychain unavailable: ${failure.cause}; ${failure.fix}`, { reason: KEYCHAIN_UNAVAILABLE }, options);
    this.problem = failure.cause;
    this.fix = failure.fix;
  }
}

export function isKeychainUnavailable(error: unknown): error is KeychainUnavailableError {
  return error instanceof KeychainUnavailableError;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Reads a `@napi-rs/keyring` error as a cause and a fix, or undefined when it is
 * not a reachability problem (then it is reported as it is). The native messages
 * name stores and D-Bus errors, never a stored value.
 */
export function explainKeychainFailure(error: unknown, platform: NodeJS.Platform = process.platform): KeychainFailure | undefined {
  const text = messageOf(error);
  if (/autolaunch|DBUS_SESSION_BUS_ADDRESS|Failed to connect to socket|org\.freedesktop\.DBus\.Error\.(NoServer|FileNotFound)|Connection refused|No such file or directory.*bus/i.test(text)) {
    return {
      cause: `no D-Bus session bus to reach the Secret Service (${firstLine(text)})`,
      fix: `run inside a desktop session, or start one: \`dbus-run-session -- sh -c 'echo <password> | gnome-keyring-daemon --unlock --components=secrets; agent-mcp-gateway …'\`, ${FALLBACK_FIX}`,
    };
  }
  if (/ServiceUnknown|org\.freedesktop\.secrets was not provided|The name .*secrets.* was not provided/i.test(text)) {
    return {
      cause: 'no Secret Service on the D-Bus session (gnome-keyring, KeePassXC or KWallet is not running)',
      fix: `start one, e.g. \`echo <password> | gnome-keyring-daemon --unlock --components=secrets\`, ${FALLBACK_FIX}`,
    };
  }
  if (/no result found/i.test(text)) {
    return {
      cause: 'the Secret Service has no default keyring (collection)',
      fix: `create and unlock one, e.g. \`echo <password> | gnome-keyring-daemon --unlock --components=secrets\` (makes the "login" keyring), ${FALLBACK_FIX}`,
    };
  }
  if (/IsLocked|is locked|unlock prompt was dismissed|prompt.*dismissed|locked/i.test(text)) {
    return {
      cause: 'the keyring is locked and could not be unlocked (no unlock prompt could be shown, or it was dismissed)',
      fix: `unlock it: log in to the desktop session, or \`echo <password> | gnome-keyring-daemon --replace --unlock --components=secrets\`, ${FALLBACK_FIX}`,
    };
  }
  if (/Couldn't access platform storage|Platform failure|platform secure storage failure|NoStorageAccess|PlatformFailure/i.test(text)) {
    return {
      cause: `the ${platformStore(platform)} refused access (${firstLine(text)})`,
      fix: `check that it is running and unlocked, ${FALLBACK_FIX}`,
    };
  }
  return undefined;
}

/** The native binding could not be loaded (no prebuilt binary for this platform). */
export function bindingFailure(error: unknown): KeychainFailure {
  return {
    cause: `@napi-rs/keyring could not be loaded on ${process.platform}-${process.arch} (${firstLine(messageOf(error))})`,
    fix: FALLBACK_FIX.replace(/^or /, ''),
  };
}

export function timeoutFailure(ms: number, platform: NodeJS.Platform = process.platform): KeychainFailure {
  return {
    cause: `the ${platformStore(platform)} did not answer within ${Math.round(ms / 100) / 10} s (waiting for an unlock prompt?)`,
    fix: `unlock it and start again, ${FALLBACK_FIX}`,
  };
}

function platformStore(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'macOS Keychain';
  if (platform === 'win32') return 'Windows Credential Manager';
  return 'Secret Service';
}

function firstLine(text: string): string {
  const line = text.split('\n')[0]?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
