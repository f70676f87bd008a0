#!/usr/bin/env node
/* global URL, AbortSignal */
/**
 * The gateway as the client of the official MCP conformance suite
 * (`npx conformance client --command "node conformance/adapter.mjs" --scenario <name>`).
 *
 * The framework appends the scenario server's URL as the last argument and sets
 * MCP_CONFORMANCE_SCENARIO (and MCP_CONFORMANCE_CONTEXT, JSON, when the
 * scenario hands over client credentials or a private key).
 *
 * Built like any third party would build it: an in-process `Gateway` with one
 * downstream server named `conformance`, the first-party HTTP transport, OAuth
 * and headers plugins, a memory token store, and nothing but the kernel's
 * public API. The server entry says only what a user would write in
 * `.mcp.json`: its URL and, when the scenario hands over configuration
 * (pre-registered client, client credentials, a Client ID Metadata Document
 * URL), the `auth` block. Everything else is discovered from the server.
 *
 * Exit 0 when the scenario's operations succeeded; 1 with a message otherwise.
 * The last stdout line is `RESULT ok` or `RESULT error <CODE> <message>`
 * (conformance/run.mjs reads it).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { ConfigRegistry, Gateway, GatewayError, GatewaySettingsSchema, MemoryTokenStore, createLogger, isGatewayError, parseServers } from '@agent-mcp-gateway/core';
import { HttpTransportPlugin } from '@agent-mcp-gateway/transport-http';
import { HeadersAuthPlugin } from '@agent-mcp-gateway/auth-headers';
import { OAuthPlugin } from '@agent-mcp-gateway/auth-oauth-dcr';

const SERVER = 'conformance';
/** The Client ID Metadata Document URL that `auth/basic-cimd` expects as client_id (a document we would host). */
const CIMD_URL = 'https://conformance-test.local/client-metadata.json';
/** Everything (logins included) must be over before the framework's own 30 s timeout kills us. */
const TIMEOUT_MS = Number(process.env.CONFORMANCE_ADAPTER_TIMEOUT_MS ?? 25_000);
const BROWSER = fileURLToPath(new URL('./browser.mjs', import.meta.url));

/** The tool each scenario wants called after listing (auth scenarios all serve `test-tool`). */
function toolCallFor(scenario) {
  if (scenario === 'tools_call') return { tool: 'add_numbers', args: { a: 5, b: 3 } };
  if (scenario === 'sse-retry') return { tool: 'test_reconnection', args: {} };
  if (scenario === 'elicitation-sep1034-client-defaults') return { tool: 'test_client_elicitation_defaults', args: {} };
  // Multi-round trip (SEP-2322): another tool called between the rounds must carry none of their state.
  if (scenario === 'sep-2322-client-request-state') {
    return { tool: 'test_mrtr_echo_state', args: {}, between: 'test_mrtr_unrelated', then: ['test_mrtr_no_state', 'test_mrtr_no_result_type'] };
  }
  if (scenario.startsWith('auth/')) return { tool: 'test-tool', args: {}, optional: true };
  return undefined;
}

/**
 * The calls an agent makes after listing: the scenario's own list when its context has one
 * (`toolCalls`, e.g. http-custom-headers), every listed tool where the scenario checks which tools
 * the client keeps (http-invalid-tool-headers: a tool the gateway left out is never called), the
 * echo of a listed input schema (json-schema-2020-12-preservation), else the scenario's one tool.
 */
function toolCallsFor(scenario, ctx, tools) {
  if (Array.isArray(ctx.toolCalls)) return ctx.toolCalls.map((c) => ({ tool: c.name, args: c.arguments ?? {} }));
  if (scenario === 'http-invalid-tool-headers') return tools.map((t) => ({ tool: t.name, args: sampleArgs(t.inputSchema) }));
  if (scenario === 'json-schema-2020-12-preservation') {
    // The server echoes back the schema it is sent: the listed input schema, as the gateway passed it on.
    const focal = tools.find((t) => t.name === 'json_schema_2020_12_tool');
    return focal ? [{ tool: 'json_schema_echo', args: { schema: focal.inputSchema } }] : [];
  }
  const one = toolCallFor(scenario);
  return one ? [one] : [];
}

/** Arguments for a tool's required parameters, of their declared primitive types. */
function sampleArgs(schema) {
  const samples = { string: 'sample', integer: 1, number: 1.5, boolean: true };
  const properties = schema?.properties ?? {};
  return Object.fromEntries((schema?.required ?? []).map((name) => [name, samples[properties[name]?.type] ?? 'sample']));
}

/** Answers the server's questions like a user who accepts every form leaving it empty (so the schema's defaults apply). */
function acceptEmpty(inputRequests) {
  return Object.fromEntries(
    Object.entries(inputRequests)
      .filter(([, request]) => request.method === 'elicitation/create')
      .map(([key]) => [key, { action: 'accept', content: {} }]),
  );
}

/** The server entry's `auth`, as a user would configure it from what the scenario hands over. */
function authFor(scenario, ctx) {
  if (ctx.private_key_pem) {
    return {
      type: 'client_credentials',
      clientId: ctx.client_id,
      tokenEndpointAuthMethod: 'private_key_jwt',
      privateKey: ctx.private_key_pem,
      ...(ctx.signing_algorithm && { signingAlgorithm: ctx.signing_algorithm }),
    };
  }
  if (scenario.startsWith('auth/client-credentials')) {
    return { type: 'client_credentials', clientId: ctx.client_id, clientSecret: ctx.client_secret, tokenEndpointAuthMethod: 'client_secret_basic' };
  }
  if (ctx.idp_id_token) {
    // Enterprise-managed authorization (ID-JAG): the client as registered at the MCP server's AS, and the IdP the user signed in to.
    return {
      type: 'enterprise_managed',
      clientId: ctx.client_id,
      ...(ctx.client_secret && { clientSecret: ctx.client_secret }),
      idp: { issuer: ctx.idp_issuer, tokenEndpoint: ctx.idp_token_endpoint, clientId: ctx.idp_client_id, idToken: ctx.idp_id_token },
    };
  }
  // Workload identity (SEP-1933): the platform's JWT is the grant (RFC 7523).
  if (ctx.valid_jwt) return { type: 'jwt_bearer', clientId: ctx.client_id, assertion: ctx.valid_jwt };
  if (ctx.client_id) return { type: 'oauth', clientId: ctx.client_id, ...(ctx.client_secret && { clientSecret: ctx.client_secret }) };
  if (scenario === 'auth/basic-cimd') return { type: 'oauth', clientMetadataUrl: CIMD_URL };
  return undefined; // nothing configured: the gateway works it out from the server's 401
}

function describe(error) {
  if (isGatewayError(error)) return { code: error.code, message: error.message };
  return { code: 'ERROR', message: error instanceof Error ? error.message : String(error) };
}

async function main() {
  const url = process.argv.at(-1);
  const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
  if (!url || !/^https?:\/\//.test(url)) throw new Error('usage: adapter.mjs <server-url> (with MCP_CONFORMANCE_SCENARIO set)');
  const ctx = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
  const deadline = Date.now() + TIMEOUT_MS;

  const auth = authFor(scenario, ctx);
  const entry = { url, type: 'http', ...(auth && { auth }) };
  const logger = createLogger({ level: process.env.CONFORMANCE_LOG_LEVEL ?? 'warn', stream: process.stderr });
  const store = new MemoryTokenStore();
  const memoryStore = {
    name: 'ConformanceMemoryStore',
    apply: (gateway) => gateway.hooks.resolveTokenStore.tap('ConformanceMemoryStore', () => store),
  };
  const oauth = new OAuthPlugin({ env: { ...process.env, BROWSER }, loginTimeoutMs: TIMEOUT_MS });
  const plugins = [new HttpTransportPlugin(), oauth, new HeadersAuthPlugin(), memoryStore];
  // The entry's `auth` is validated against what the plugins register, as the CLI does.
  const registry = new ConfigRegistry();
  for (const plugin of plugins) plugin.register?.(registry);
  const { servers, warnings } = parseServers(JSON.stringify({ mcpServers: { [SERVER]: entry } }), 'conformance/adapter.mjs', {}, registry);
  const gateway = new Gateway({
    config: { servers, settings: GatewaySettingsSchema.parse({}), sources: {}, warnings },
    plugins,
    logger,
  });

  /** Waits (short waits, bounded by the deadline) until the pending login has settled. */
  const loginSettled = async () => {
    const downstream = gateway.server(SERVER);
    const strategy = await oauth.strategyFor(downstream.spec, { logger, signal: AbortSignal.timeout(TIMEOUT_MS) });
    while (strategy.status().state === 'login_pending') {
      if (Date.now() > deadline) throw new Error(`the login did not finish within ${TIMEOUT_MS} ms`);
      await sleep(50);
    }
    const status = strategy.status();
    // A login that ended in a refusal (e.g. an authorization response whose `iss` is wrong) is an authentication failure.
    if (status.state === 'failed') throw new GatewayError('AUTH_FAILED', `login failed: ${status.detail}`, { server: SERVER });
    // The finished login makes the gateway reconnect by itself: let that attempt end and judge it,
    // instead of racing it with one more attempt of our own (the suite counts attempts).
    while (downstream.state === 'connecting' || (downstream.state === 'auth_required' && strategy.status().state === 'ok')) {
      if (Date.now() > deadline) throw new Error(`the reconnection after the login did not finish within ${TIMEOUT_MS} ms`);
      await sleep(20);
    }
    if (downstream.state === 'error' && /^Authentication to server/.test(downstream.lastError ?? '')) {
      throw new GatewayError('AUTH_FAILED', downstream.lastError, { server: SERVER });
    }
  };

  /** Runs `op`; while it answers AUTH_REQUIRED with a login to finish (in the background, via BROWSER), waits and retries. */
  const withLogin = async (op) => {
    for (;;) {
      try {
        return await op();
      } catch (error) {
        const loginPending = isGatewayError(error) && error.code === 'AUTH_REQUIRED' && error.details.authorizationUrl;
        if (!loginPending || Date.now() > deadline) throw error;
        logger.info(`AUTH_REQUIRED; waiting for the login to finish`);
        await loginSettled();
      }
    }
  };

  try {
    await gateway.start();
    const agent = gateway.resolveAgent();
    const tools = await withLogin(() => gateway.listTools(agent, SERVER));
    logger.info(`listed ${tools.length} tools: ${tools.map((t) => t.name).join(', ')}`);
    const run = async (tool, args, interact) => {
      const result = await withLogin(() => gateway.callTool({ agent, server: SERVER, tool, args, timeoutMs: 15_000 }, { interact }));
      if (result.isError) throw new Error(`${tool} answered an error: ${JSON.stringify(result.content)}`);
      logger.info(`${tool}: ${JSON.stringify(result.content)}`);
    };
    for (const call of toolCallsFor(scenario, ctx, tools)) {
      if (!tools.some((t) => t.name === call.tool)) {
        if (call.optional) continue;
        throw new Error(`the server does not list the tool ${call.tool}`);
      }
      let between = call.between;
      await run(call.tool, call.args, async (inputRequests) => {
        if (between) await run(between, {}, acceptEmpty);
        between = undefined;
        return acceptEmpty(inputRequests);
      });
      for (const tool of call.then ?? []) await run(tool, {}, acceptEmpty);
    }
  } finally {
    await Promise.race([gateway.close(), sleep(2_000)]);
  }
}

main().then(
  () => {
    process.stdout.write('RESULT ok\n');
    process.exit(0);
  },
  (error) => {
    const { code, message } = describe(error);
    process.stderr.write(`adapter: ${code}: ${message}\n`);
    process.stdout.write(`RESULT error ${code} ${message.replace(/\s+/g, ' ')}\n`);
    process.exit(1);
  },
);
