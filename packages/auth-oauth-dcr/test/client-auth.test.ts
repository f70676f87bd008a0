import type * as oauth from 'oauth4webapi';
import { describe, expect, it } from 'vitest';
import { clientSecretBasic, processRegistrationResponse } from '../src/client-auth.js';

const AS = { issuer: 'https://as.example' } as oauth.AuthorizationServer;

function basicCredentials(clientId: string, secret: string): string {
  const headers = new Headers();
  void clientSecretBasic(secret)(AS, { client_id: clientId }, new URLSearchParams(), headers);
  const value = headers.get('authorization') ?? '';
  expect(value.startsWith('Basic ')).toBe(true);
  return Buffer.from(value.slice(6), 'base64').toString('utf8');
}

describe('client_secret_basic', () => {
  it('sends typical ids and secrets as they are (no %2D for "-"), so an AS that does not form-decode reads the same id', () => {
    expect(basicCredentials('pre-registered-client', 'pre-registered_secret.1')).toBe('pre-registered-client:pre-registered_secret.1');
  });

  it('still form-urlencodes what must be encoded (RFC 6749 §2.3.1): the ":" separator, "%", spaces, non-ASCII', () => {
    expect(basicCredentials('id:with%colon', 'a b+é')).toBe('id%3Awith%25colon:a+b%2B%C3%A9');
  });

  it('refuses to run without a secret', () => {
    expect(() => clientSecretBasic(undefined)(AS, { client_id: 'x' }, new URLSearchParams(), new Headers())).toThrow(/needs a client secret/);
  });
});

const json = (body: unknown, status = 201) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

describe('processRegistrationResponse', () => {
  it('accepts a client_secret without client_secret_expires_at, read as 0 (does not expire)', async () => {
    const client = await processRegistrationResponse(json({ client_id: 'c1', client_secret: 's1', redirect_uris: ['http://127.0.0.1:1/callback'] }));
    expect(client).toMatchObject({ client_id: 'c1', client_secret: 's1', client_secret_expires_at: 0 });
  });

  it('keeps an expiry the AS sent, and public clients as they are', async () => {
    expect(await processRegistrationResponse(json({ client_id: 'c1', client_secret: 's1', client_secret_expires_at: 1_900_000_000 }))).toMatchObject({
      client_secret_expires_at: 1_900_000_000,
    });
    const pub = await processRegistrationResponse(json({ client_id: 'c2' }));
    expect(pub.client_id).toBe('c2');
    expect(pub.client_secret_expires_at).toBeUndefined();
  });

  it('still refuses what is not a registration: an OAuth error, a wrong status, no client_id', async () => {
    await expect(processRegistrationResponse(json({ error: 'invalid_client_metadata' }, 400))).rejects.toThrow();
    await expect(processRegistrationResponse(json({ client_id: 'c1', client_secret: 's1' }, 200))).rejects.toThrow();
    await expect(processRegistrationResponse(json({ client_secret: 's1' }))).rejects.toThrow();
  });
});
