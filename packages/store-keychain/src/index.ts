/**
 * @agent-mcp-gateway/store-keychain — a `TokenStore` in the OS keychain
 * (`@napi-rs/keyring`: macOS Keychain, Windows Credential Manager, Linux Secret Service).
 *
 * ```ts
 * const gateway = new Gateway({ config, plugins: [new KeychainTokenStorePlugin(), new FsTokenStorePlugin(), …] });
 * ```
 */
export { KEYCHAIN_SERVICE, KeychainTokenStore } from './store.js';
export type { KeychainTokenStoreOptions } from './store.js';
export { KeychainTokenStorePlugin } from './plugin.js';
export type { KeychainTokenStorePluginOptions } from './plugin.js';
export { KEYCHAIN_UNAVAILABLE, KeychainUnavailableError, explainKeychainFailure, isKeychainUnavailable, keychainUnavailable } from './errors.js';
export type { KeychainFailure } from './errors.js';
