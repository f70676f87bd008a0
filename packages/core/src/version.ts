import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** This package's version, reported to downstream servers and clients. */
export const GATEWAY_VERSION: string = (require('../package.json') as { version: string }).version;
