import { type ConfigRegistry, type Gateway, type GatewayPlugin, type Logger } from '@agent-mcp-gateway/core';
import { defaultTokenDir } from '@agent-mcp-gateway/store-fs';
import { KeychainUnavailableError, isKeychainUnavailable, keychainUnavailable } from './errors.js';
import { KeychainTokenStore, type KeychainTokenStoreOptions } from './store.js';

export interface KeychainTokenStorePluginOptions extends KeychainTokenStoreOptions {
  /** After a failed probe, how long until the keychain is probed again (default 30 000 ms). */
  readonly retryAfterMs?: number;
}

/**
 * Answers `resolveTokenStore` with one shared {@link KeychainTokenStore}, by the
 * server's token store (its own `tokenStore`, else the setting):
 * - `keychain`: the keychain, or — when it cannot be reached — SERVER_UNAVAILABLE
 *   (`reason: 'keychain_unavailable'`) with "keychain unavailable: <cause>; <fix>".
 *   Never a silent fallback to files.
 * - `auto`: the keychain when reachable; otherwise nothing (the file store plugin,
 *   registered after this one, answers), with one warning for the whole process.
 * - `fs`: nothing.
 * Reachability is probed once (a probe item written, read and removed); for
 * `keychain` a failed probe is retried after `retryAfterMs` (the keyring may get
 * unlocked), while `auto` keeps its first answer for the life of the process.
 */
export class KeychainTokenStorePlugin implements GatewayPlugin {
  readonly name = 'KeychainTokenStorePlugin';
  private store: KeychainTokenStore | undefined;
  private probe: { at: number; result: Promise<KeychainUnavailableError | undefined> } | undefined;
  private warnedFallback = false;

  constructor(private readonly options: KeychainTokenStorePluginOptions = {}) {}

  register(registry: ConfigRegistry): void {
    registry.registerTokenStore({ name: 'keychain', plugin: this.name });
    registry.registerTokenStore({ name: 'auto', plugin: this.name });
  }

  apply(gateway: Gateway): void {
    const logger = gateway.logger.child({ plugin: this.name });
    gateway.hooks.resolveTokenStore.tapPromise(this.name, async (spec) => {
      const settings = gateway.config.settings;
      const choice = spec.tokenStore ?? settings.tokenStore;
      if (choice !== 'keychain' && choice !== 'auto') return undefined;
      const store = this.storeFor(settings.tokenDir, logger);
      // `auto` decides once per process: tokens must not land in files for one server and in the keychain for the next.
      const problem = choice === 'auto' && this.probe ? await this.probe.result : await this.availability(store);
      if (!problem) return store;
      if (choice === 'keychain') throw keychainUnavailable(spec.name, problem.message);
      if (!this.warnedFallback) {
        this.warnedFallback = true;
        logger.warn(`Token store 'auto': ${problem.message}. Using files instead (${settings.tokenDir ?? defaultTokenDir()})`);
      }
      return undefined;
    });
  }

  private storeFor(tokenDir: string | undefined, logger: Logger): KeychainTokenStore {
    this.store ??= new KeychainTokenStore({
      ...this.options,
      lockDir: this.options.lockDir ?? tokenDir ?? defaultTokenDir(),
      onWarning: this.options.onWarning ?? ((message) => logger.warn(message)),
      onLockWait: this.options.onLockWait ?? ((where) => logger.info(`Waiting for another gateway process to release ${where}`)),
    });
    return this.store;
  }

  /** Undefined when the keychain works; the reason otherwise. One probe at a time, remembered. */
  private availability(store: KeychainTokenStore): Promise<KeychainUnavailableError | undefined> {
    const retryAfterMs = this.options.retryAfterMs ?? 30_000;
    const current = this.probe;
    if (current && Date.now() - current.at <= retryAfterMs) return current.result;
    // A success is final; only a failure is probed again, once the wait is over.
    const result = current ? current.result.then((failure) => (failure ? this.runProbe(store) : undefined)) : this.runProbe(store);
    this.probe = { at: Date.now(), result };
    return result;
  }

  private runProbe(store: KeychainTokenStore): Promise<KeychainUnavailableError | undefined> {
    return store.probe().then(
      () => undefined,
      (error: unknown) =>
        isKeychainUnavailable(error) ? error : new KeychainUnavailableError({ cause: String(error), fix: 'use GATEWAY_TOKEN_STORE=fs' }),
    );
  }
}
