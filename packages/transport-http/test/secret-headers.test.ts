import { describe, expect, it } from 'vitest';
import { withoutCredentialHeaders } from '../src/auth-fetch.js';

describe('headers the transport sends on its own', () => {
  it('are neither credential headers nor headers holding a ${secret:…} reference', () => {
    expect(
      withoutCredentialHeaders({ Authorization: 'Bearer x', 'X-Team': 'a', 'X-Api-Key': '${secret:KEY}', 'X-Mixed': 'k=${secret:K};v=1' }),
    ).toEqual({ 'X-Team': 'a' });
  });
});
