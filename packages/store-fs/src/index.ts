export { FsTokenStore, defaultTokenDir } from './store.js';
export type { FsTokenStoreOptions } from './store.js';
export { FsTokenStorePlugin, type FsTokenStorePluginOptions } from './plugin.js';
