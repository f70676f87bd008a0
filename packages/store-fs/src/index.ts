export { FsTokenStore, defaultTokenDir } from './store.js';
export type { FsTokenStoreOptions } from './store.js';
export { FsTokenStorePlugin, type FsTokenStorePluginOptions } from './plugin.js';
// Its catalogued errors (CONFIG_INVALID with reason `token_dir_unsafe` / `key_dir_unsafe`).
export { UnsafeFolderError, keyDirUnsafe, tokenDirUnsafe } from './files.js';
// For other stores (store-keychain): the same cross-process lock, and the same part shapes.
export { withFileLock, type LockSettings } from './lock.js';
export { PARTS, describeIssues } from './schemas.js';
