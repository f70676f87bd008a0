import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeTokenStoreContract } from '@agent-mcp-gateway/testing/store-contract';
import { FsTokenStore } from '../src/index.js';

describeTokenStoreContract(
  'FsTokenStore',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'store-fs-contract-'));
    return {
      store: new FsTokenStore({ dir }),
      reopen: () => new FsTokenStore({ dir }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
  { kind: 'fs' },
);
