import { GatewayError, type GatewaySettings, type TokenStore, type TokenStoreChoice } from '@agent-mcp-gateway/core';
import { FsTokenStore, defaultTokenDir } from '@agent-mcp-gateway/store-fs';
import { KEYCHAIN_UNAVAILABLE, KeychainTokenStore, isKeychainUnavailable } from '@agent-mcp-gateway/store-keychain';
import type { CliArgs } from './args.js';
import { loadSettingsOnly } from './context.js';

/** The gateway settings (settings file in a trusted place + GATEWAY_* variables), without needing a servers file. */
export async function settingsFor(env: NodeJS.ProcessEnv = process.env, args: Pick<CliArgs, 'config' | 'settings'> = {}): Promise<GatewaySettings> {
  return (await loadSettingsOnly(env, args)).settings;
}

const warnToStderr = (message: string) => process.stderr.write(`agent-mcp-gateway: warning: ${message}\n`);

/** The file store the gateway uses with these settings. */
export function fileStore(settings: GatewaySettings): FsTokenStore {
  return new FsTokenStore({ dir: settings.tokenDir ?? defaultTokenDir(), onWarning: warnToStderr });
}

/**
 * The keychain store the gateway uses with these settings, checked to be reachable:
 * GatewayError (CONFIG_INVALID, `reason: 'keychain_unavailable'`) "keychain unavailable: <cause>; <fix>" when it is not.
 */
export async function keychainStore(settings: GatewaySettings): Promise<KeychainTokenStore> {
  const store = new KeychainTokenStore({ lockDir: settings.tokenDir ?? defaultTokenDir(), onWarning: warnToStderr });
  try {
    await store.probe();
  } catch (error) {
    if (isKeychainUnavailable(error)) throw new GatewayError('CONFIG_INVALID', error.message, { path: 'tokenStore', reason: KEYCHAIN_UNAVAILABLE }, { cause: error });
    throw error;
  }
  return store;
}

/**
 * The store for a choice, by the gateway's rules: `fs` files; `keychain` the keychain or
 * an error naming cause and fix; `auto` the keychain when reachable, else files (with a warning).
 */
export async function openTokenStore(choice: TokenStoreChoice, settings: GatewaySettings): Promise<TokenStore> {
  if (choice === 'fs') return fileStore(settings);
  if (choice === 'keychain') return keychainStore(settings);
  try {
    return await keychainStore(settings);
  } catch (error) {
    warnToStderr(`token store 'auto': ${error instanceof Error ? error.message : String(error)}; using files`);
    return fileStore(settings);
  }
}
