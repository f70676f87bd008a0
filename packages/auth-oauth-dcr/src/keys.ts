import { createPrivateKey, webcrypto } from 'node:crypto';

/** A PKCS#8 PEM private key as a WebCrypto key with its JWS algorithm, for `private_key_jwt`. */
export async function importPKCS8(pem: string, algorithm?: string): Promise<{ key: webcrypto.CryptoKey }> {
  const keyObject = createPrivateKey(pem);
  const type = keyObject.asymmetricKeyType;
  const alg = algorithm ?? (type === 'ec' ? 'ES256' : 'RS256');
  const params =
    alg.startsWith('ES')
      ? { name: 'ECDSA', namedCurve: ({ ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' } as Record<string, string>)[alg] ?? 'P-256' }
      : alg.startsWith('PS')
        ? { name: 'RSA-PSS', hash: `SHA-${alg.slice(2)}` }
        : { name: 'RSASSA-PKCS1-v1_5', hash: `SHA-${alg.slice(2)}` };
  const der = keyObject.export({ format: 'der', type: 'pkcs8' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, params, false, ['sign']);
  return { key };
}
