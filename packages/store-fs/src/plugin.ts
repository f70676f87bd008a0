import type { ConfigRegistry, Gateway, GatewayPlugin } from '@agent-mcp-gateway/core';
import { FsTokenStore, defaultTokenDir } from './store.js';

export interface FsTokenStorePluginOptions {
  /** Default: the `tokenDir` setting, else `${GATEWAY_TOKEN_DIR:-~/.config/agent-mcp-gateway/oauth}`. */
  readonly dir?: string;
}

/**
 * Answers `resolveTokenStore` with one shared `FsTokenStore` when the server's
 * token store (its own `tokenStore`, else the setting) is `fs` (the default) or
 * `auto` — for `auto` it comes after the keychain plugin, which answers first when
 * the keychain is reachable. For `keychain` it stays out: files are never a silent
 * fallback. Corrupt files and lock waits go to the log.
 *
 * The token folder is checked each time the store is handed out: a folder that is
 * a symbolic link or another account's fails the server that needs it with the
 * store's CONFIG_INVALID error (path and fix named), not with a later surprise.
 */
export class FsTokenStorePlugin implements GatewayPlugin {
  readonly name = 'FsTokenStorePlugin';
  private store: FsTokenStore | undefined;

  constructor(private readonly options: FsTokenStorePluginOptions = {}) {}

  /** `tokenStore: "fs"` (the default setting); `auto` is the keychain plugin's, this one answers it when the keychain does not. */
  register(registry: ConfigRegistry): void {
    registry.registerTokenStore({ name: 'fs', plugin: this.name });
  }

  apply(gateway: Gateway): void {
    const logger = gateway.logger.child({ plugin: this.name });
    gateway.hooks.resolveTokenStore.tapPromise(this.name, async (spec) => {
      const settings = gateway.config.settings;
      const choice = spec.tokenStore ?? settings.tokenStore;
      if (choice !== 'fs' && choice !== 'auto') return undefined;
      this.store ??= new FsTokenStore({
        dir: this.options.dir ?? settings.tokenDir ?? defaultTokenDir(),
        onWarning: (message) => logger.warn(message),
        onLockWait: (folder) => logger.info(`Waiting for another gateway process to release ${folder}`),
      });
      await this.store.checkFolder();
      return this.store;
    });
  }
}
