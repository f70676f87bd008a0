import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { createRequestStateCodec, type RequestStateCodec, type ServerContext } from '@modelcontextprotocol/server';

/** The shortest state key accepted, in bytes (the SDK codec's minimum too). */
export const MIN_STATE_KEY_BYTES = 32;

/**
 * How long a `requestState` the gateway hands out stays valid: beyond the longest call timeout
 * (`timeout_ms` ≤ 1 h); each call's own deadline, sealed inside, is what really bounds it.
 */
const STATE_TTL_SECONDS = 3_660;

/**
 * Seals the state of interactive calls that 2026-07-28 agents carry between rounds (`requestState`).
 * Signed with the SDK's HMAC codec (checked by the server before the handler runs: a forged,
 * altered or expired state is refused as `-32602`) and, inside, encrypted (AES-256-GCM): the state
 * holds the call's arguments as the policy let them through, which the agent must not read.
 *
 * Every gateway instance behind one address needs the same key (`http.stateKey` /
 * `GATEWAY_STATE_KEY`); without one, each process makes its own, and a round that reaches another
 * process is refused.
 */
export class InteractionStateCodec {
  private readonly codec: RequestStateCodec<{ e: string }>;
  private readonly aeadKey: Buffer;
  /** Whether the key is this process's own (not configured). */
  readonly ephemeral: boolean;

  constructor(key?: string | Uint8Array) {
    this.ephemeral = key === undefined;
    const secret = key === undefined ? randomBytes(32) : typeof key === 'string' ? Buffer.from(key, 'utf8') : Buffer.from(key);
    if (secret.length < MIN_STATE_KEY_BYTES) throw new RangeError(`The state key must be at least ${MIN_STATE_KEY_BYTES} bytes long`);
    const derive = (label: string): Buffer => Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), `agent-mcp-gateway ${label}`, 32));
    this.aeadKey = derive('requestState aead');
    this.codec = createRequestStateCodec({ key: new Uint8Array(derive('requestState mac')), ttlSeconds: STATE_TTL_SECONDS });
  }

  /** `ServerOptions.requestState.verify`: the MAC and the expiry, before the handler runs. */
  readonly verify = (state: string, ctx: ServerContext): Promise<{ e: string }> => this.codec.verify(state, ctx);

  /** The wire `requestState` for `payload` (JSON). */
  async seal(payload: unknown): Promise<string> {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.aeadKey, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(payload), 'utf8'), cipher.final()]);
    const e = Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
    return this.codec.mint({ e });
  }

  /** The payload of a verified state (what `ctx.mcpReq.requestState()` returns); undefined when it does not open. */
  open(verified: unknown): unknown {
    const e = (verified as { e?: unknown } | undefined)?.e;
    if (typeof e !== 'string') return undefined;
    try {
      const raw = Buffer.from(e, 'base64url');
      const decipher = createDecipheriv('aes-256-gcm', this.aeadKey, raw.subarray(0, 12));
      decipher.setAuthTag(raw.subarray(12, 28));
      return JSON.parse(Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8')) as unknown;
    } catch {
      return undefined;
    }
  }
}

/** A digest of JSON arguments that does not depend on key order (to bind a state to a call's arguments). */
export function argumentsDigest(args: unknown): string {
  return createHash('sha256').update(canonicalJson(args)).digest('base64url');
}

/** JSON with object keys sorted and undefined members left out: one text for equal values, whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
