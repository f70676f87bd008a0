import type { AuthStrategy } from './types.js';

/** The strategy used when no `resolveAuth` tap answers: send nothing. */
export const noCredentials: AuthStrategy = Object.freeze({
  kind: 'none',
  headers: async () => ({}),
  env: async () => ({}),
  onChallenge: async () => 'fail' as const,
  status: () => ({ kind: 'none', state: 'none' as const }),
});
