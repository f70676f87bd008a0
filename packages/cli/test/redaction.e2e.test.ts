/**
 * OAuth tokens never leave the gateway in clear, even when a downstream echoes them in
 * a form no `Bearer …` pattern catches — through the built CLI, with the real
 * oidc-provider authorization server. The protected MCP server here is the testing
 * package's HTTP demo server with a `bearer` check that turns hostile on demand: it
 * puts the raw access token and the current refresh token into a JSON-RPC error and
 * into the `error` of a 401 challenge. (A downstream's own tool *result*, `isError` or
 * not, still goes back unchanged, as docs/security.md says.) The gateway logs at debug level,
 * writes an audit log and serves `get_gateway_status` (`--debug`); none of them, and no
 * tool result, may show a token.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startAuthorizationServer, startHttpMcpServer, testBrowserCommand, type BearerVerdict } from '@agent-mcp-gateway/testing';
import { describe, expect, it } from 'vitest';
import { closeAfterEach, errorOf, json, tempDir, waitForExit } from './harness.js';

const { later, gateway } = closeAfterEach();

type Leak = 'none' | 'error' | 'challenge';

interface Stored {
  access_token: string;
  refresh_token: string;
}

function callsTool(message: unknown): { params?: { name?: string; arguments?: Record<string, unknown> } } | undefined {
  const m = message as { method?: string } | undefined;
  return m?.method === 'tools/call' ? (m as ReturnType<typeof callsTool>) : undefined;
}

describe('OAuth tokens a downstream echoes are blanked everywhere (built CLI)', () => {
  it('JSON-RPC errors and 401 challenges that quote the raw access or refresh token: never in stderr (debug), the audit log, get_gateway_status or a tool result', async () => {
    const as = later(await startAuthorizationServer());
    const tokenDir = await tempDir();
    const auditLog = join(await tempDir(), 'audit.jsonl');
    /** Every access token the server was sent, and every refresh token seen on disk. */
    const tokens = new Set<string>();
    let leak: Leak = 'none';
    const current = async (): Promise<Stored> => {
      const [folder] = await readdir(tokenDir);
      const stored = JSON.parse(await readFile(join(tokenDir, folder as string, 'tokens.json'), 'utf8')) as Stored;
      tokens.add(stored.access_token).add(stored.refresh_token);
      return stored;
    };
    let resource = '';
    const notion = later(
      await startHttpMcpServer({
        name: 'notion',
        protectedResource: { authorizationServers: [as.issuer], scopesSupported: ['mcp:read', 'mcp:write'] },
        bearer: async (token, request): Promise<BearerVerdict> => {
          tokens.add(token);
          resource = request.resource;
          try {
            await as.verifyAccessToken(token, request.resource);
          } catch {
            return { status: 401, error: 'invalid_token' };
          }
          const call = callsTool(request.message);
          if (!call) return true;
          const { refresh_token } = await current();
          // No "Bearer " before either token: only a redactor that knows them can blank them.
          const quote = `the credential ${token} (refresh: ${refresh_token}) is not accepted here`;
          if (leak === 'challenge') return { status: 401, error: quote, description: quote };
          if (leak === 'error' && call.params?.arguments) call.params.arguments.message = quote; // the `throw` tool now fails with it
          return true;
        },
      }),
    );

    const g = await gateway({
      servers: { notion: { url: notion.url } },
      args: ['--debug'],
      env: {
        BROWSER: testBrowserCommand(),
        GATEWAY_TOKEN_DIR: tokenDir,
        GATEWAY_AUDIT_LOG: auditLog,
        GATEWAY_LOG_LEVEL: 'debug',
        GATEWAY_INIT_STRATEGY: 'lazy',
      },
    });
    const call = (tool: string, args: Record<string, unknown>) => g.call('execute_tool', { server: 'notion', tool, args });
    const results: unknown[] = [];

    // 1. log in (in the background, through the test browser)
    expect(errorOf(await call('echo', { text: 'first' })).code).toBe('AUTH_REQUIRED');
    await g.waitForStderr(/Tokens cached for notion/);
    expect(json(await call('echo', { text: 'in' }))).toEqual({ text: 'in' });
    const first = await current();
    expect(resource).toBe(notion.url);

    // 2. the downstream fails a tool call with a JSON-RPC error that quotes both tokens
    leak = 'error';
    const thrown = await call('throw', { message: 'placeholder' });
    results.push(thrown);
    expect(errorOf(thrown).message).toContain('the credential [REDACTED] (refresh: [REDACTED])');

    // 3. it refuses the token with a 401 whose challenge quotes both: the gateway logs the refusal, refreshes
    //    (new tokens, the refresh token rotated), retries, and is refused the same way
    leak = 'challenge';
    const refused = await call('echo', { text: 'refused' });
    results.push(refused);
    expect(refused.isError).toBe(true);
    await g.waitForStderr(/Access token for notion refused/);
    await g.waitForStderr(/Tokens refreshed for notion/);
    const second = await current();
    expect(second.access_token).not.toBe(first.access_token);
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect(g.stderr()).toMatch(/Access token for notion refused \(the credential \[REDACTED\] \(refresh: \[REDACTED\]\) is not accepted here\)/);

    const status = await g.call('get_gateway_status', {});
    results.push(status);
    expect(status.isError).toBeFalsy();

    await g.close(); // stdin closes: the gateway shuts down and flushes the audit log
    expect(await waitForExit(g.pid as number)).toBe(true);
    const audit = await readFile(auditLog, 'utf8');
    expect(audit).toContain('auth.refresh');

    // at least two access tokens and two refresh tokens were in play; none shows anywhere
    expect(tokens.size).toBeGreaterThanOrEqual(4);
    const surfaces = { stderr: g.stderr(), audit, results: JSON.stringify(results) };
    for (const [where, text] of Object.entries(surfaces)) {
      for (const token of tokens) expect(text.includes(token), `${where} shows a token`).toBe(false);
    }
  });
});
