/**
 * `secret set NAME` / `secret list` / `secret delete NAME`: the named secrets that
 * `${secret:NAME}` references in `.mcp.json` header and env values resolve to. They
 * live in the token store (`--store`, else the `tokenStore` setting /
 * GATEWAY_TOKEN_STORE) under the reserved key `secret--NAME`. A value is read from
 * stdin or a hidden prompt — never from the command line, where `ps` and the shell
 * history would keep it — and is never printed.
 */
import {
  GatewayError,
  SECRET_NAME_RULE,
  isValidSecretName,
  secretNameOf,
  secretStoreKey,
  type TokenStore,
} from '@agent-mcp-gateway/core';
import type { CliArgs } from './args.js';
import { cliRedactor } from './output.js';
import { openTokenStore, settingsFor } from './token-stores.js';

export interface SecretIo {
  readonly stdin: NodeJS.ReadStream;
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

const defaultIo = (): SecretIo => ({ stdin: process.stdin, stdout: process.stdout, stderr: process.stderr });

export async function runSecret(args: CliArgs, io: SecretIo = defaultIo()): Promise<number> {
  const [action, name] = args.operands;
  const settings = await settingsFor(process.env, args);
  const store = await openTokenStore(args.store ?? settings.tokenStore, settings);
  switch (action) {
    case 'set':
      return setSecret(store, checkedName(name), io);
    case 'delete':
      return deleteSecret(store, checkedName(name), io);
    default:
      return listSecrets(store, args.json, io);
  }
}

function checkedName(name: string | undefined): string {
  if (name === undefined || !isValidSecretName(name)) throw new GatewayError('INVALID_ARGUMENTS', `Invalid secret name: ${SECRET_NAME_RULE}`);
  return name;
}

async function setSecret(store: TokenStore, name: string, io: SecretIo): Promise<number> {
  const value = io.stdin.isTTY ? await promptHidden(`Value of secret ${name} (input hidden): `, io) : stripNewline(await readAll(io.stdin));
  if (value === undefined) {
    io.stderr.write('agent-mcp-gateway: cancelled; nothing saved\n');
    return 130;
  }
  if (value === '') throw new GatewayError('INVALID_ARGUMENTS', `No value given for secret ${name} (pipe it on stdin, or type it at the prompt)`);
  cliRedactor.add(value); // an error printed from here on (main.ts) is blanked
  if (value.includes('\0')) throw new GatewayError('INVALID_ARGUMENTS', `The value of secret ${name} contains a NUL character`);
  const key = secretStoreKey(name);
  const existed = await store.withLock(key, async () => {
    const before = (await store.get(key))?.secret !== undefined;
    await store.set(key, { secret: value });
    return before;
  });
  io.stdout.write(`Secret ${name} ${existed ? 'replaced' : 'saved'} in the ${store.kind} store. Use it in .mcp.json as \${secret:${name}}.\n`);
  return 0;
}

async function deleteSecret(store: TokenStore, name: string, io: SecretIo): Promise<number> {
  const key = secretStoreKey(name);
  const existed = await store.withLock(key, async () => {
    if ((await store.get(key))?.secret === undefined) return false;
    await store.delete(key);
    return true;
  });
  if (!existed) {
    io.stderr.write(`agent-mcp-gateway: no secret ${name} in the ${store.kind} store\n`);
    return 1;
  }
  io.stdout.write(`Secret ${name} deleted from the ${store.kind} store.\n`);
  return 0;
}

async function listSecrets(store: TokenStore, json: boolean, io: SecretIo): Promise<number> {
  const secrets = (await store.list())
    .map((entry) => ({ name: secretNameOf(entry.key), location: entry.location, problem: entry.problem }))
    .filter((s): s is { name: string; location: string; problem: string | undefined } => s.name !== undefined);
  if (json) {
    io.stdout.write(`${JSON.stringify({ store: store.kind, secrets: secrets.map((s) => ({ name: s.name, location: s.location, ...(s.problem && { problem: s.problem }) })) }, null, 2)}\n`);
    return 0;
  }
  if (secrets.length === 0) {
    io.stdout.write(`No secrets in the ${store.kind} store.\n`);
    return 0;
  }
  for (const s of secrets) io.stdout.write(`${s.name}${s.problem ? `  (unreadable: ${s.problem})` : ''}\n`);
  return 0;
}

function stripNewline(text: string): string {
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

/** Reads one line from the terminal without echoing it. Undefined when cancelled (Ctrl-C, Esc). */
function promptHidden(question: string, io: SecretIo): Promise<string | undefined> {
  const stdin = io.stdin;
  io.stderr.write(question);
  return new Promise((resolve) => {
    let value = '';
    const finish = (result: string | undefined) => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      io.stderr.write('\n');
      resolve(result);
    };
    const onData = (data: Buffer | string) => {
      for (const ch of data.toString('utf8')) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish(value);
        if (ch === '\u0003' || ch === '\u001b') return finish(undefined);
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.setRawMode?.(true);
    stdin.resume();
    stdin.on('data', onData);
  });
}
