import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AuthChallengeError, findAuthChallenge, parseWwwAuthenticate } from '../src/auth-challenge.js';

describe('parseWwwAuthenticate', () => {
  it.each([
    [
      'Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"',
      { scheme: 'Bearer', resourceMetadata: 'https://mcp.example.com/.well-known/oauth-protected-resource/mcp' },
    ],
    ['Bearer realm="mcp", error="invalid_token", error_description="The access token expired"', { scheme: 'Bearer', error: 'invalid_token' }],
    ['Bearer error="insufficient_scope", scope="files:read files:write"', { error: 'insufficient_scope', scope: 'files:read files:write' }],
    ['bearer ERROR=invalid_token', { scheme: 'bearer', error: 'invalid_token' }],
    ['Bearer realm="a \\"quoted\\" realm"', { params: { realm: 'a "quoted" realm' } }],
    ['Basic realm="x", Bearer scope="never-read"', { scheme: 'Basic', params: { realm: 'x' } }],
    ['', { scheme: '', params: {} }],
    ['Bearer', { scheme: 'Bearer', params: {} }],
  ])('%s', (header, expected) => {
    expect(parseWwwAuthenticate(header, 401)).toMatchObject({ status: 401, ...expected });
  });

  it('reads only the first challenge: a second one cannot smuggle a scope in', () => {
    expect(parseWwwAuthenticate('Basic realm="x", Bearer scope="admin"', 401).scope).toBeUndefined();
  });

  it('never throws, whatever the header', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constant(undefined), fc.constant(null)), fc.constantFrom(401 as const, 403 as const), (header, status) => {
        const challenge = parseWwwAuthenticate(header, status);
        expect(challenge.status).toBe(status);
        expect(typeof challenge.scheme).toBe('string');
      }),
    );
  });

  it('finds a challenge through an error cause chain', () => {
    const challenge = parseWwwAuthenticate('Bearer error="invalid_token"', 401);
    const wrapped = new Error('outer', { cause: new Error('middle', { cause: new AuthChallengeError(challenge) }) });
    expect(findAuthChallenge(wrapped)).toBe(challenge);
    expect(findAuthChallenge(new Error('plain'))).toBeUndefined();
  });
});
