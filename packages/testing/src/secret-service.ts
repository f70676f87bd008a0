/**
 * A real, private Secret Service for keychain tests on Linux: a D-Bus session bus
 * of its own (`dbus-daemon`) and `gnome-keyring-daemon` on it, its "login" keyring
 * created and unlocked with a throwaway password, in a temporary HOME. Nothing of
 * the user's session is touched. Needs the Debian packages `dbus` and `gnome-keyring`.
 *
 * The bus has no service activation: nothing but this keyring daemon ever runs on it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SecretService {
  /** `DBUS_SESSION_BUS_ADDRESS` of the private bus. */
  readonly address: string;
  /** The temporary HOME the keyring lives in. */
  readonly home: string;
  /** The environment a process needs to use this Secret Service: `{ DBUS_SESSION_BUS_ADDRESS }`. */
  readonly env: Readonly<Record<string, string>>;
  /** Locks the default keyring, as a screen lock or a logout would (for "locked" error tests). */
  lock(): Promise<void>;
  /** Stops the keyring and the bus, and removes the temporary HOME. */
  close(): Promise<void>;
}

/** No Secret Service could be started here (a missing program, no D-Bus): the reason says which. */
export class SecretServiceUnavailableError extends Error {
  override readonly name = 'SecretServiceUnavailableError';
}

export interface StartSecretServiceOptions {
  /** Password of the "login" keyring. Default: a fixed test password. */
  password?: string;
  /** How long the bus and the keyring may take to come up. Default 15 000 ms. */
  timeoutMs?: number;
}

const BUS_CONFIG = (dir: string) => `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=${dir}</listen>
  <auth>EXTERNAL</auth>
  <!-- a session bus's limits (session.conf), not the low built-in defaults -->
  <limit name="max_completed_connections">100000</limit>
  <limit name="max_incomplete_connections">10000</limit>
  <limit name="max_connections_per_user">100000</limit>
  <limit name="max_replies_per_connection">50000</limit>
  <limit name="max_match_rules_per_connection">50000</limit>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`;

function hasProgram(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Children still running when the test process exits are stopped with it. */
const running = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once('exit', () => running.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function dbusSend(address: string, args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('dbus-send', ['--session', '--print-reply', ...args], {
    env: { ...process.env, DBUS_SESSION_BUS_ADDRESS: address },
    encoding: 'utf8',
    timeout: 5_000,
  });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Starts a private D-Bus session bus and an unlocked gnome-keyring on it. Throws
 * {@link SecretServiceUnavailableError} when it cannot (say why in a skip message).
 */
export async function startSecretService(options: StartSecretServiceOptions = {}): Promise<SecretService> {
  if (process.platform !== 'linux') throw new SecretServiceUnavailableError(`a private Secret Service needs Linux (this is ${process.platform})`);
  for (const [program, pkg] of [
    ['dbus-daemon', 'dbus'],
    ['dbus-send', 'dbus'],
    ['gnome-keyring-daemon', 'gnome-keyring'],
  ] as const) {
    if (!hasProgram(program)) throw new SecretServiceUnavailableError(`${program} is not installed (apt-get install ${pkg})`);
  }
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  const home = await mkdtemp(join(tmpdir(), 'amg-keyring-'));
  const children: ChildProcess[] = [];
  const fail = async (why: string): Promise<never> => {
    for (const c of children.reverse()) await stop(c);
    await rm(home, { recursive: true, force: true });
    throw new SecretServiceUnavailableError(why);
  };

  // 1. the bus
  const config = join(home, 'bus.conf');
  await writeFile(config, BUS_CONFIG(home));
  const bus = spawn('dbus-daemon', [`--config-file=${config}`, '--nofork', '--print-address=1'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(bus);
  track(bus);
  let busErr = '';
  bus.stderr?.on('data', (c: Buffer) => (busErr += c.toString()));
  const address = await new Promise<string | undefined>((resolve) => {
    let out = '';
    const timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
    bus.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n') && line) {
        clearTimeout(timer);
        resolve(line.trim());
      }
    });
    bus.once('exit', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  if (!address) return fail(`dbus-daemon did not start: ${busErr.trim() || 'no address printed'}`);

  // 2. the keyring, its login collection created and unlocked with the password on stdin
  const keyring = spawn('gnome-keyring-daemon', ['--foreground', '--unlock', '--components=secrets'], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, XDG_RUNTIME_DIR: home, DBUS_SESSION_BUS_ADDRESS: address },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(keyring);
  track(keyring);
  let keyringOut = '';
  keyring.stdout?.on('data', (c: Buffer) => (keyringOut += c.toString()));
  keyring.stderr?.on('data', (c: Buffer) => (keyringOut += c.toString()));
  keyring.stdin?.end(options.password ?? 'amg-test-keyring');

  // 3. ready when the default collection answers and is unlocked
  for (;;) {
    if (keyring.exitCode !== null) return fail(`gnome-keyring-daemon exited (${keyring.exitCode}): ${keyringOut.trim()}`);
    const owner = dbusSend(address, ['--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', 'string:org.freedesktop.secrets']);
    if (owner.ok && /boolean true/.test(owner.out)) {
      const locked = dbusSend(address, [
        '--dest=org.freedesktop.secrets',
        '/org/freedesktop/secrets/aliases/default',
        'org.freedesktop.DBus.Properties.Get',
        'string:org.freedesktop.Secret.Collection',
        'string:Locked',
      ]);
      if (locked.ok && /boolean false/.test(locked.out)) break;
    }
    if (Date.now() > deadline) return fail(`the Secret Service did not come up within ${timeoutMs} ms: ${keyringOut.trim()}`);
    await sleep(50);
  }

  let closed: Promise<void> | undefined;
  return {
    address,
    home,
    env: { DBUS_SESSION_BUS_ADDRESS: address },
    async lock() {
      const r = dbusSend(address, [
        '--dest=org.freedesktop.secrets',
        '/org/freedesktop/secrets',
        'org.freedesktop.Secret.Service.Lock',
        'array:objpath:/org/freedesktop/secrets/collection/login',
      ]);
      if (!r.ok) throw new Error(`could not lock the keyring: ${r.out}`);
    },
    close() {
      closed ??= (async () => {
        await stop(keyring);
        await stop(bus);
        await rm(home, { recursive: true, force: true });
      })();
      return closed;
    },
  };
}
