/**
 * API accounts for the simulator and tests: a fresh EC P-256 key pair with a client ID and key ID of
 * Apple's shape, and a writer that lays them out the way Apple Business Manager hands them out (the
 * downloaded private key `.pem`, and the client ID and key ID the portal shows, here in a small JSON
 * file beside it). Test material only: the keys are generated on the spot.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AbmScope } from '../../abm/types.js';
import type { SimApiAccount } from './api.js';

/** Generates an API account with a new P-256 key. */
export function generateApiAccount(scope: AbmScope = 'business'): SimApiAccount {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return {
    clientId: `${scope === 'business' ? 'BUSINESSAPI' : 'SCHOOLAPI'}.${randomUUID()}`,
    keyId: randomUUID(),
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    scope,
  };
}

/** Paths written by {@link writeApiAccount}. */
export interface WrittenApiAccount {
  /** The private key, mode 0600. */
  privateKeyPath: string;
  /** `{clientId, keyId, scope}`: what the portal shows next to the download. */
  accountPath: string;
}

/** Writes an account into `dir` (created if needed) as `<name>.pem` and `<name>.json`. */
export async function writeApiAccount(dir: string, account: SimApiAccount, name = 'api-account'): Promise<WrittenApiAccount> {
  await mkdir(dir, { recursive: true });
  const privateKeyPath = join(dir, `${name}.pem`);
  const accountPath = join(dir, `${name}.json`);
  await writeFile(privateKeyPath, account.privateKeyPem, { mode: 0o600 });
  await writeFile(accountPath, `${JSON.stringify({ clientId: account.clientId, keyId: account.keyId, scope: account.scope }, null, 2)}\n`, { mode: 0o600 });
  return { privateKeyPath, accountPath };
}
