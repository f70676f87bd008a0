import { describe, expect, it } from 'vitest';
import { isLoopbackHost, isSecureOrLoopbackUrl } from '../src/urls.js';

describe('isLoopbackHost: the one loopback rule of listeners, config checks and transports', () => {
  it.each([
    ['localhost', true],
    ['LOCALHOST', true],
    ['127.0.0.1', true],
    ['127.1.2.3', true],
    ['::1', true],
    ['[::1]', true],
    ['::ffff:127.0.0.1', true],
    ['[::ffff:127.0.0.1]', true],
    ['128.0.0.1', false],
    ['10.0.0.5', false],
    ['0.0.0.0', false],
    ['localhost.example.com', false],
    ['127.0.0.1.example.com', false],
    ['::', false],
  ])('%s → %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });

  it.each([
    ['https://example.com/mcp', true],
    ['http://127.0.0.1:8080/', true],
    ['http://[::1]:8080/', true],
    ['http://localhost/', true],
    ['http://example.com/', false],
    ['http://10.0.0.5/', false],
    ['ftp://127.0.0.1/', false],
  ])('isSecureOrLoopbackUrl(%s) → %s', (url, expected) => {
    expect(isSecureOrLoopbackUrl(new URL(url))).toBe(expected);
  });
});
