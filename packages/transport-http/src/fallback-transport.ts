import { SSEClientTransport, SdkHttpError, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import type { FetchLike, JSONRPCMessage, MessageExtraInfo, Transport, TransportSendOptions } from '@modelcontextprotocol/client';
import { AuthChallengeError, findAuthChallenge, type AuthChallenge, type Logger } from '@agent-mcp-gateway/core';

export interface HttpDownstreamTransportOptions {
  readonly url: URL;
  /** `sse`: legacy HTTP+SSE only; `http`: Streamable HTTP, falling back to SSE when `initialize` is refused with 4xx. */
  readonly mode: 'http' | 'sse';
  readonly fetch: FetchLike;
  readonly logger: Logger;
  /** The last auth refusal the fetch saw, if any (the SSE transport wraps fetch errors and loses it). */
  readonly lastRefusal?: () => AuthChallenge | undefined;
}

/**
 * One downstream connection over HTTP. Speaks Streamable HTTP and, per the
 * spec's backwards-compatibility section, switches to the legacy HTTP+SSE
 * transport when the server refuses the `initialize` POST with a 4xx other
 * than 401/403 (those are auth, handled by the fetch).
 */
export class HttpDownstreamTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: <T extends JSONRPCMessage>(message: T, extra?: MessageExtraInfo) => void;
  private inner: Transport;
  private fellBack = false;
  private started = false;
  private supportedVersions: string[] | undefined;

  constructor(private readonly options: HttpDownstreamTransportOptions) {
    this.inner = options.mode === 'sse' ? this.sse() : new StreamableHTTPClientTransport(options.url, { fetch: options.fetch });
    this.wire(this.inner);
  }

  /** `http` or `sse`: what this connection ended up speaking. */
  get protocol(): 'http' | 'sse' {
    return this.options.mode === 'sse' || this.fellBack ? 'sse' : 'http';
  }

  get sessionId(): string | undefined {
    return this.inner.sessionId;
  }

  /**
   * The inner transport's: `true` for Streamable HTTP (one POST per request), so that on a 2026-07-28
   * connection the SDK cancels a request by closing its stream rather than by posting
   * `notifications/cancelled`; undefined once fallen back to SSE.
   */
  get hasPerRequestStream(): boolean | undefined {
    return this.inner.hasPerRequestStream;
  }

  setProtocolVersion(version: string): void {
    this.inner.setProtocolVersion?.(version);
  }

  /** Passed on to the inner transport (header validation during the era negotiation), and to its SSE successor. */
  setSupportedProtocolVersions(versions: string[]): void {
    this.supportedVersions = versions;
    this.inner.setSupportedProtocolVersions?.(versions);
  }

  async start(): Promise<void> {
    this.started = true;
    await this.inner.start().catch((error: unknown) => {
      throw this.withChallenge(error);
    });
  }

  async send(message: JSONRPCMessage, options?: TransportSendOptions): Promise<void> {
    try {
      await this.inner.send(message, options);
    } catch (error) {
      if (!this.shouldFallBack(message, error)) throw this.withChallenge(error);
      this.options.logger.info(`Streamable HTTP refused (${(error as SdkHttpError).status}); falling back to legacy SSE`);
      const old = this.inner;
      old.onclose = undefined;
      old.onerror = undefined;
      old.onmessage = undefined;
      await old.close().catch(() => undefined);
      this.fellBack = true;
      this.inner = this.sse();
      this.wire(this.inner);
      if (this.supportedVersions) this.inner.setSupportedProtocolVersions?.(this.supportedVersions);
      try {
        if (this.started) await this.inner.start();
        await this.inner.send(message, options);
      } catch (sseError) {
        throw this.withChallenge(sseError);
      }
    }
  }

  /** Makes sure an auth refusal reaches the kernel as an AuthChallengeError, however the SDK wrapped it. */
  private withChallenge(error: unknown): unknown {
    if (findAuthChallenge(error)) return error;
    const challenge = this.options.lastRefusal?.();
    return challenge ? Object.assign(new AuthChallengeError(challenge), { cause: error }) : error;
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  private shouldFallBack(message: JSONRPCMessage, error: unknown): boolean {
    if (this.options.mode !== 'http' || this.fellBack) return false;
    if (!('method' in message) || message.method !== 'initialize') return false;
    // The HTTP status is on `.status` (`.code` names the SDK's failure kind).
    const status = error instanceof SdkHttpError ? error.status : undefined;
    return status !== undefined && status >= 400 && status < 500 && status !== 401 && status !== 403;
  }

  private sse(): SSEClientTransport {
    return new SSEClientTransport(this.options.url, { fetch: this.options.fetch });
  }

  private wire(inner: Transport): void {
    inner.onclose = () => this.onclose?.();
    inner.onerror = (error) => this.onerror?.(error);
    inner.onmessage = (message, extra) => this.onmessage?.(message, extra);
  }
}

/** Streamable HTTP: the server forgot our session (404 on a request carrying its id). */
export function isSessionExpired(error: unknown): boolean {
  return error instanceof SdkHttpError && error.status === 404;
}
