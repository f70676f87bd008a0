import * as client from 'openid-client';
import type * as oauth from 'oauth4webapi';
import { openBrowser } from './browser.js';
import { startCallbackServer } from './callback.js';
import { DEVICE_CODE_GRANT, type ClientIdentity } from './client-identity.js';
import type { DeviceLogin, PendingLogin, StrategyContext } from './context.js';
import type { DpopBinding } from './dpop.js';
import { requireEndpoints } from './discovery.js';
import {
  authorizationRefused,
  authorizationResponseIssuerMismatch,
  codeExchangeRefused,
  deviceAuthorizationRefused,
  deviceCodeExpired,
  deviceGrantRefused,
  deviceUnsupported,
} from './errors.js';
import { authFailure, describeFailure } from './failures.js';
import type { Track } from './login-tracker.js';
import type { ScopeRequest } from './scopes.js';
import type { Discovery, Session } from './session.js';
import type { TokenCache } from './token-cache.js';
import { oauthErrorCode } from './tokens.js';

/**
 * The grants that wait for a person: the authorization code grant with PKCE S256 (the browser
 * opens the authorization URL, the code arrives on a loopback callback), and the device
 * authorization grant (RFC 8628: a code entered on any device). Each prepares a login and hands
 * its grant to `track`, which saves the tokens when the person is done.
 */
export class UserGrants {
  constructor(
    private readonly ctx: StrategyContext,
    private readonly parts: {
      readonly discovery: Discovery;
      readonly scopes: ScopeRequest;
      readonly identity: ClientIdentity;
      readonly cache: TokenCache;
      readonly dpop: DpopBinding;
    },
  ) {}

  /** A browser login: callback server, client, PKCE authorization URL (checked by the egress policy), browser opened. */
  async browser(track: Track): Promise<PendingLogin> {
    const { ctx } = this;
    const { options, logger } = ctx;
    const session = await this.parts.discovery.session();
    requireEndpoints(ctx.name, session.as, ['authorization_endpoint']);
    const stored = await this.parts.cache.read();
    const state = client.randomState();
    const preferredPort = options.callbackPort ?? portOf(stored?.client?.redirect_uris?.[0]);
    const callback = await startCallbackServer({ port: preferredPort, expectedState: state, timeoutMs: options.loginTimeoutMs }).catch((error: unknown) => {
      if (options.callbackPort !== undefined || preferredPort === undefined) throw error;
      return startCallbackServer({ expectedState: state, timeoutMs: options.loginTimeoutMs }); // the remembered port is taken
    });
    try {
      const registered = await this.parts.identity.ensure(session, stored, callback.redirectUri);
      const config = this.parts.identity.configuration(session, registered) as client.Configuration;
      const verifier = client.randomPKCECodeVerifier();
      const scope = this.parts.scopes.for(session);
      // DPoP: the code is bound to the key that will redeem it (RFC 9449 §10, `dpop_jkt`).
      const dpop = (await this.parts.dpop.options(session, config)).DPoP;
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: callback.redirectUri,
        response_type: 'code',
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        resource: session.info.resource,
        ...(scope && { scope }),
        ...(dpop && { dpop_jkt: await dpop.calculateThumbprint() }),
      }).href;
      // The URL a browser will open (a GET by the user's browser): the same rule as any request.
      await session.egress.check(url, 'authorization endpoint');
      logger.info(`OAuth flow initiated for ${ctx.name}`);
      await openBrowser(url, options.env, logger);
      const grant = this.exchangeCode(callback.result, config, verifier, state, session);
      return track({ url, cancel: () => callback.close() }, grant);
    } catch (error) {
      callback.close();
      throw error;
    }
  }

  /** RFC 8628: the code and URI are logged for the user; the token endpoint is polled at the server's pace. */
  async device(track: Track): Promise<DeviceLogin> {
    const { ctx } = this;
    const { logger, options, name } = ctx;
    const session = await this.parts.discovery.session();
    if (typeof session.as.device_authorization_endpoint !== 'string') {
      throw deviceUnsupported(
        name,
        `authorization server ${session.as.issuer} offers no device authorization (RFC 8628); sign in with the URL instead (BROWSER=none prints it)`,
      );
    }
    const stored = await this.parts.cache.read();
    const redirectUri = stored?.client?.redirect_uris?.[0] ?? `http://127.0.0.1${options.callbackPort ? `:${options.callbackPort}` : ''}/callback`;
    const registered = await this.parts.identity.ensure(session, stored, redirectUri, DEVICE_CODE_GRANT);
    const config = this.parts.identity.configuration(session, registered) as client.Configuration;
    const scope = this.parts.scopes.for(session);
    const resource = session.info.resource;
    let device: Awaited<ReturnType<typeof client.initiateDeviceAuthorization>>;
    try {
      device = await client.initiateDeviceAuthorization(config, { resource, ...(scope && { scope }) });
    } catch (error) {
      throw authFailure(name, `device authorization refused by ${session.as.issuer}: ${describeFailure(error)}`, error, deviceAuthorizationRefused);
    }
    const complete = typeof device.verification_uri_complete === 'string' ? device.verification_uri_complete : undefined;
    // Shown to the user and opened by a browser: the remote server's word, checked like any URL before anyone sees it.
    await session.egress.check(device.verification_uri, 'verification URI');
    if (complete) await session.egress.check(complete, 'verification URI');
    logger.info(`OAuth device flow initiated for ${name}`);
    logger.info(`To sign in to ${name}, open ${device.verification_uri} on any device and enter the code ${device.user_code}` + (complete ? ` (or open ${complete})` : ''));
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(device.expires_in * 1000)]);
    const dpop = await this.parts.dpop.options(session, config);
    const poll = client.pollDeviceAuthorizationGrant(config, device, { resource }, { signal, ...dpop }).catch((error: unknown) => {
      const code = oauthErrorCode(error);
      if (stop.signal.aborted) throw new Error('the login was cancelled');
      if (signal.aborted || code === 'expired_token') throw deviceCodeExpired(name, 'the device code expired before the login was confirmed', code);
      if (code === 'access_denied') throw authorizationRefused(name, 'the authorization server refused the login: access_denied', code);
      throw authFailure(name, describeFailure(error), error, deviceGrantRefused);
    });
    // openid-client notices the abort only between its waits (up to 5 s): a cancelled login ends now.
    const cancelled = new Promise<never>((_, reject) => {
      stop.signal.addEventListener('abort', () => reject(new Error('the login was cancelled')), { once: true });
    });
    const grant = Promise.race([poll, cancelled]);
    poll.catch(() => undefined);
    return track(
      {
        url: complete ?? device.verification_uri,
        userCode: device.user_code,
        verificationUri: device.verification_uri,
        ...(complete && { verificationUriComplete: complete }),
        expiresAt: Math.floor(Date.now() / 1000) + device.expires_in,
        cancel: () => stop.abort(),
      },
      grant,
    );
  }

  private async exchangeCode(result: Promise<URL>, config: client.Configuration, verifier: string, state: string, session: Session) {
    const callbackUrl = await result;
    this.ctx.logger.info(`OAuth callback received for ${this.ctx.name}`);
    // RFC 9207 / SEP-2468, before anything else in the response is believed (an `error` included).
    checkResponseIssuer(this.ctx.name, session.as, callbackUrl.searchParams);
    const error = callbackUrl.searchParams.get('error');
    // The redirect back is the browser's word (anyone's): its `error` is named only when it has the form of an error code.
    if (error) throw authorizationRefused(this.ctx.name, `the authorization server refused the login: ${ERROR_CODE.test(error) ? error : 'an unreadable error'}`, error);
    try {
      return await client.authorizationCodeGrant(
        config,
        callbackUrl,
        { pkceCodeVerifier: verifier, expectedState: state, idTokenExpected: false },
        { resource: session.info.resource },
        await this.parts.dpop.options(session, config),
      );
    } catch (failure) {
      throw authFailure(this.ctx.name, describeFailure(failure), failure, codeExchangeRefused);
    }
  }
}

/**
 * The authorization response's `iss` (RFC 9207 §2.4, SEP-2468): when present it must equal the issuer of the
 * metadata the login was started from by simple string comparison (no case folding, no default port or
 * trailing-slash normalization); when absent, the authorization server must not advertise
 * `authorization_response_iss_parameter_supported`. Otherwise the response may come from another authorization
 * server (a mix-up attack): AUTH_FAILED/`authorization_response_issuer_mismatch`, naming neither value.
 */
export function checkResponseIssuer(server: string, as: Pick<oauth.AuthorizationServer, 'issuer' | 'authorization_response_iss_parameter_supported'>, params: URLSearchParams): void {
  const iss = params.getAll('iss');
  if (iss.length > 1) throw authorizationResponseIssuerMismatch(server, 'the authorization response carries more than one iss parameter');
  const [value] = iss;
  if (value === undefined) {
    if (as.authorization_response_iss_parameter_supported === true) {
      throw authorizationResponseIssuerMismatch(
        server,
        `the authorization response carries no iss parameter although ${as.issuer} advertises authorization_response_iss_parameter_supported (RFC 9207)`,
      );
    }
    return;
  }
  if (value !== as.issuer) {
    throw authorizationResponseIssuerMismatch(server, `the authorization response's iss parameter is not the issuer ${as.issuer} the login was started with (RFC 9207)`);
  }
}

/** What an OAuth `error` code looks like (RFC 6749 §4.1.2.1 allows more; a longer or odder one is not repeated). */
const ERROR_CODE = /^[A-Za-z0-9_.-]{1,64}$/;

/** The port of a remembered redirect URI, to listen on it again (a registration names its redirect URI exactly). */
function portOf(uri: string | undefined): number | undefined {
  if (!uri) return undefined;
  try {
    const port = Number(new URL(uri).port);
    return port > 0 ? port : undefined;
  } catch {
    return undefined;
  }
}
