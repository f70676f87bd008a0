import { chmodSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export { createDemoServer, DEMO_SERVER_VERSION, DEMO_TOOL_NAMES } from './demo-server.js';
export type { DemoServerOptions } from './demo-server.js';
export { gatewayErrorOf } from './failure.js';
export { startHttpMcpServer } from './http-server.js';
export { listenOnLoopback } from './listen.js';
export type {
  AuthorizeRefusal,
  AuthorizeRequest,
  BearerRejection,
  BearerRequest,
  BearerVerdict,
  HttpMcpServer,
  HttpMcpServerEra,
  HttpMcpServerMode,
  HttpMcpServerOptions,
  ProtectedResourceOptions,
  RecordedRequest,
} from './http-server.js';
export { DEFAULT_OAUTH_SCOPES, startAuthorizationServer } from './oauth-server.js';
export type {
  AccessTokenClaims,
  AuthorizationServer,
  AuthorizationServerOptions,
  AuthorizationServerRequest,
  OAuthClientMetadata,
} from './oauth-server.js';
export { startProtectedMcpServer } from './protected-server.js';
export { startDpopMcpServer } from './dpop-server.js';
export type { DpopMcpServer, DpopMcpServerOptions, DpopRefusal } from './dpop-server.js';
export type { ProtectedMcpServer, ProtectedMcpServerOptions } from './protected-server.js';
export { completeDeviceLogin, completeLogin } from './headless-browser.js';
export type { CompletedDeviceLogin, CompletedLogin, CompleteDeviceLoginOptions, CompleteLoginOptions } from './headless-browser.js';
export { SecretServiceUnavailableError, startSecretService } from './secret-service.js';
export type { SecretService, StartSecretServiceOptions } from './secret-service.js';
// The TokenStore contract suite needs Vitest: it is the subpath `@agent-mcp-gateway/testing/store-contract`.

/**
 * When this module is loaded from source (`src/index.ts`, e.g. by Vitest) the
 * compiled server lives in `../dist/`; from the built package it sits next to
 * this file.
 */
const loadedFromSource = /\.[cm]?ts$/.test(new URL(import.meta.url).pathname);

/**
 * Absolute path of the compiled stdio demo server (`dist/stdio-server.js`).
 * Spawn it with `process.execPath` (`node`) as the command.
 */
export const stdioServerPath: string = fileURLToPath(
  new URL(loadedFromSource ? '../dist/stdio-server.js' : './stdio-server.js', import.meta.url),
);

/** Absolute path of the compiled `mcp-test-browser` (`dist/browser-bin.js`). */
export const testBrowserPath: string = fileURLToPath(
  new URL(loadedFromSource ? '../dist/browser-bin.js' : './browser-bin.js', import.meta.url),
);

/**
 * {@link testBrowserPath}, made executable first (the compiler does not set the bit), so
 * it can be run directly, e.g. as `BROWSER`. Throws when the package is not built.
 */
export function testBrowserCommand(): string {
  if ((statSync(testBrowserPath).mode & 0o111) !== 0o111) chmodSync(testBrowserPath, 0o755);
  return testBrowserPath;
}
