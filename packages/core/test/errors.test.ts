import { describe, expect, it } from 'vitest';
import { ErrorCodes, GatewayError, defineError, errorCatalogue, errors, isGatewayError } from '../src/index.js';

describe('the error catalogue plugins extend', () => {
  const clockSkew = defineError({
    code: 'HMAC_CLOCK_SKEW',
    message: (server: string, seconds: number) => `Server '${server}' refused the signature: clocks differ by ${seconds} s`,
    details: (server: string) => ({ server }),
  });
  const unsigned = defineError({
    code: 'AUTH_FAILED',
    reason: 'signature_rejected',
    message: (server: string) => errors.authFailed(server, 'the server rejected the signature').message,
    details: (server: string) => ({ server }),
  });

  it('a template makes coded GatewayErrors; code + reason travel to the agent in structuredContent.error', () => {
    const error = unsigned('billing');
    expect(isGatewayError(error)).toBe(true);
    expect(error).toMatchObject({ code: 'AUTH_FAILED', details: { server: 'billing', reason: 'signature_rejected' } });
    expect(error.toJSON()).toEqual({
      code: 'AUTH_FAILED',
      message: "Authentication to server 'billing' failed: the server rejected the signature",
      server: 'billing',
      reason: 'signature_rejected',
    });
    expect(clockSkew('billing', 90).toJSON()).toEqual({ code: 'HMAC_CLOCK_SKEW', message: expect.any(String), server: 'billing' });
  });

  it('`is` matches code and reason, not the class nor the prose', () => {
    expect(unsigned.is(unsigned('a'))).toBe(true);
    expect(unsigned.is(errors.authFailed('a', 'the server rejected the signature'))).toBe(false);
    expect(unsigned.is(new GatewayError('AUTH_FAILED', 'other words', { reason: 'signature_rejected' }))).toBe(true);
    expect(clockSkew.is(clockSkew('a', 1))).toBe(true);
    expect(clockSkew.is(new Error('HMAC_CLOCK_SKEW'))).toBe(false);
  });

  it('the catalogue lists core codes, then the codes and reasons plugins defined', () => {
    const all = errorCatalogue();
    expect(all.slice(0, Object.keys(ErrorCodes).length).map((e) => e.code)).toEqual(Object.values(ErrorCodes));
    expect(all).toContainEqual({ code: 'HMAC_CLOCK_SKEW', reason: undefined });
    expect(all).toContainEqual({ code: 'AUTH_FAILED', reason: 'signature_rejected' });
  });

  it('refuses a core code without a reason, a code without a namespace, a reason that is not snake_case', () => {
    const message = () => 'x';
    expect(() => defineError({ code: 'AUTH_FAILED', message })).toThrow(/core code; give a reason/);
    expect(() => defineError({ code: 'SKEW' as never, message })).toThrow(/not a namespaced code/);
    expect(() => defineError({ code: 'HMAC_skew' as never, message })).toThrow(/not a namespaced code/);
    expect(() => defineError({ code: 'AUTH_FAILED', reason: 'Bad Reason', message })).toThrow(/not snake_case/);
  });

  it("core's own messages are unchanged", () => {
    expect(errors.authFailed('s', 'why').message).toBe("Authentication to server 's' failed: why");
    expect(errors.serverUnavailable('s', 'why').toJSON()).toEqual({ code: 'SERVER_UNAVAILABLE', message: "Server 's' is unavailable: why", server: 's' });
  });
});
