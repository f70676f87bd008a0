import { describeTokenStoreContract } from '@agent-mcp-gateway/testing/store-contract';
import { MemoryTokenStore } from '../src/index.js';

describeTokenStoreContract('MemoryTokenStore', () => ({ store: new MemoryTokenStore() }), { kind: 'memory' });
