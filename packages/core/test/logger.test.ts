import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { SecretRedactor, createLogger, type LoggerOptions } from '../src/logger.js';

const WAIT_MS = 5_000;

/**
 * A logger writing into a PassThrough. `flush()` logs an error-level marker and
 * resolves with everything written before it, once the marker has arrived
 * (lines stay in order, so nothing logged earlier is still on its way).
 */
function capture(options: Omit<LoggerOptions, 'stream'> = {}) {
  const stream = new PassThrough();
  let output = '';
  let waiter: { marker: string; resolve: (text: string) => void } | undefined;
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    output += chunk;
    if (waiter && output.includes(waiter.marker)) {
      const { marker, resolve } = waiter;
      waiter = undefined;
      resolve(output.slice(0, output.lastIndexOf('\n', output.indexOf(marker)) + 1));
    }
  });
  const logger = createLogger({ ...options, stream });
  let flushes = 0;
  return {
    logger,
    flush(): Promise<string> {
      const marker = `flush-marker-${++flushes}`;
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<string>((resolve, reject) => {
        waiter = { marker, resolve };
        timer = setTimeout(() => reject(new Error(`timed out waiting for ${marker}`)), WAIT_MS);
      });
      logger.error(marker);
      return arrived.finally(() => clearTimeout(timer));
    },
  };
}

const SECRET = 'hunter2-super-secret-value';

describe('createLogger: secrets', () => {
  it('a registered secret never appears: message, nested meta, arrays, an Error, a child logger', async () => {
    const { logger, flush } = capture({ level: 'debug' });
    logger.redactor.add(SECRET);

    logger.info(`connecting with ${SECRET} now`);
    logger.warn('nested', { request: { env: { VALUE: SECRET }, list: ['a', `x${SECRET}y`, { deep: SECRET }] } });
    logger.error('failed', { error: new Error(`server said ${SECRET} is wrong`) });
    logger.debug('meta message key', { message: `also ${SECRET}` });
    logger.child({ server: 'demo', note: SECRET }).info(`child line ${SECRET}`);

    const text = await flush();
    expect(text).not.toContain(SECRET);
    expect(text).toContain('connecting with [REDACTED] now');
    expect(text).toContain('server said [REDACTED] is wrong');
    expect(text).toContain('x[REDACTED]y');
    expect(text).toContain('[demo] child line [REDACTED]');
    expect(text.split('\n').filter(Boolean)).toHaveLength(5);
  });

  it('a secret nested deeper than the redaction depth still does not leak', async () => {
    const { logger, flush } = capture();
    logger.redactor.add(SECRET);
    let deep: Record<string, unknown> = { value: SECRET };
    for (let i = 0; i < 12; i++) deep = { level: deep };
    logger.info('deep', { deep });
    expect(await flush()).not.toContain(SECRET);
  });

  it('a secret registered after the logger was made, and on a shared redactor, is redacted', async () => {
    const redactor = new SecretRedactor();
    const { logger, flush } = capture({ redactor });
    expect(logger.redactor).toBe(redactor);
    logger.info('before any secret');
    redactor.add('late-registered-token');
    redactor.add('abc'); // too short to register: would blank out ordinary words
    logger.info('late-registered-token and abc');
    const text = await flush();
    expect(text).not.toContain('late-registered-token');
    expect(text).toContain('[REDACTED] and abc');
  });

  it('the longest secret wins when one contains another, and regex characters are literal', async () => {
    const { logger, flush } = capture();
    logger.redactor.add('pass');
    logger.redactor.add('password-with.*chars(1)');
    logger.info('value password-with.*chars(1) and passport');
    const text = await flush();
    expect(text).toContain('value [REDACTED] and [REDACTED]port');
    expect(text).not.toContain('with.*chars');
  });

  it('values under secret-looking keys are redacted whatever they hold', async () => {
    const { logger, flush } = capture({ format: 'json' });
    logger.info('headers', {
      headers: {
        authorization: 'Basic dXNlcjpwYXNz',
        Authorization: 'whatever',
        'x-api-key': 'k-123',
        'content-type': 'application/json',
      },
      api_key: 'plain-key-1',
      apiKey: 'plain-key-2',
      token: 'tok-1',
      access_token: 'tok-2',
      refreshToken: 'tok-3',
      client_secret: 'cs-1',
      password: 'pw-1',
      credentials: { user: 'me', pass: 'pw-2' },
      cookie: 'session=1',
      empty_token: '',
      count: 3,
    });
    const [line] = (await flush()).split('\n');
    const entry = JSON.parse(line!) as Record<string, unknown>;
    expect(entry).toMatchObject({
      headers: {
        authorization: '[REDACTED]',
        Authorization: '[REDACTED]',
        'x-api-key': '[REDACTED]',
        'content-type': 'application/json',
      },
      api_key: '[REDACTED]',
      apiKey: '[REDACTED]',
      token: '[REDACTED]',
      access_token: '[REDACTED]',
      refreshToken: '[REDACTED]',
      client_secret: '[REDACTED]',
      password: '[REDACTED]',
      credentials: '[REDACTED]',
      cookie: '[REDACTED]',
      empty_token: '',
      count: 3,
    });
    for (const leaked of ['dXNlcjpwYXNz', 'k-123', 'plain-key', 'tok-', 'cs-1', 'pw-', 'session=1']) {
      expect(line).not.toContain(leaked);
    }
  });

  it('Bearer and Basic credentials are redacted by pattern, even unregistered', async () => {
    const { logger, flush } = capture();
    logger.info('sent Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig to the server');
    logger.warn('retry', { detail: 'got 401 for bearer abcdef123456 and Basic dXNlcjpwYXNz' });
    logger.error('failed', { error: new Error('Bearer xyz.secret-token~value rejected') });
    const text = await flush();
    expect(text).toContain('Bearer [REDACTED] to the server');
    expect(text).not.toContain('eyJhbGciOiJIUzI1NiJ9');
    expect(text).not.toContain('abcdef123456');
    expect(text).not.toContain('dXNlcjpwYXNz');
    expect(text).not.toContain('xyz.secret-token');
    // Short words after "Bearer" are ordinary prose, not credentials.
    logger.info('Bearer token required');
    expect(await flush()).toContain('Bearer token required');
  });
});

describe('createLogger: levels and formats', () => {
  it('drops lines below the level', async () => {
    const { logger, flush } = capture({ level: 'warn' });
    logger.debug('debug line');
    logger.info('info line');
    logger.warn('warn line');
    logger.error('error line');
    const text = await flush();
    expect(text).not.toContain('debug line');
    expect(text).not.toContain('info line');
    expect(text).toContain('WARN warn line');
    expect(text).toContain('ERROR error line');
    expect(logger.isLevelEnabled('warn')).toBe(true);
    expect(logger.isLevelEnabled('info')).toBe(false);
    expect(logger.isLevelEnabled('debug')).toBe(false);
  });

  it('defaults to info', async () => {
    const { logger, flush } = capture();
    logger.debug('debug line');
    logger.info('info line');
    const text = await flush();
    expect(text).not.toContain('debug line');
    expect(text).toContain('INFO info line');
    expect(logger.isLevelEnabled('debug')).toBe(false);
  });

  it('text format: timestamp, LEVEL, [server] from a child, message, then meta as JSON', async () => {
    const { logger, flush } = capture();
    logger.child({ server: 'github' }).warn('slow start', { ms: 1200 });
    const [line] = (await flush()).split('\n');
    expect(line).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z WARN \[github\] slow start \{"ms":1200\}$/);
  });

  it('json format: every line parses as JSON with level, message, timestamp and meta', async () => {
    const { logger, flush } = capture({ format: 'json', level: 'debug' });
    logger.redactor.add(SECRET);
    logger.debug('one', { n: 1 });
    logger.child({ server: 'fs' }).info(`two ${SECRET}`, { nested: { ok: true } });
    const lines = (await flush()).split('\n').filter(Boolean);
    expect(lines).toHaveLength(2);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries[0]).toMatchObject({ level: 'debug', message: 'one', n: 1 });
    expect(entries[1]).toMatchObject({ level: 'info', message: 'two [REDACTED]', server: 'fs', nested: { ok: true } });
    for (const entry of entries) expect(typeof entry.timestamp).toBe('string');
  });

  it('close() ends the logger', async () => {
    const { logger, flush } = capture();
    logger.info('last words');
    expect(await flush()).toContain('last words');
    await expect(logger.close()).resolves.toBeUndefined();
  });
});

describe('SecretRedactor', () => {
  it('redact() keeps structure, redacts strings, keys and Errors, and leaves other values', () => {
    const r = new SecretRedactor();
    r.add(SECRET);
    r.add(undefined);
    const error = Object.assign(new Error(`bad ${SECRET}`), { code: 'E_BAD' });
    expect(
      r.redact({ a: [1, null, true, `x ${SECRET}`], token: 'x', error, nothing: undefined, password: null }),
    ).toEqual({
      a: [1, null, true, 'x [REDACTED]'],
      token: '[REDACTED]',
      error: { name: 'Error', message: 'bad [REDACTED]', code: 'E_BAD' },
      nothing: undefined,
      password: null,
    });
    expect(r.redactString('no secrets here')).toBe('no secrets here');
  });

  it('survives cyclic values', () => {
    const r = new SecretRedactor();
    r.add(SECRET);
    const cyclic: Record<string, unknown> = { value: SECRET };
    cyclic.self = cyclic;
    const out = JSON.stringify(r.redact(cyclic), (_k, v: unknown) => (v === cyclic ? '[cycle]' : v));
    expect(out).not.toContain(SECRET);
  });
});

describe('createLogger: close', () => {
  it('drops lines logged after close() instead of failing on the ended stream', async () => {
    const { logger, flush } = capture();
    const child = logger.child({ server: 'late' });
    expect(await flush()).toBe('');
    await logger.close();
    // A downstream that settles after the CLI closed its logger (e.g. a failed prepare()) still logs.
    // The ended stream's 'error' has no listener: without the guard these calls throw "write after end".
    expect(() => logger.warn('after close')).not.toThrow();
    expect(() => child.error('child after close')).not.toThrow();
  });
});
