/**
 * File names of a key rotation (tokens/rotation.ts), next to the `privateKey` file reference. Kept apart from
 * the crypto code so the CLI can name these files without loading node-forge.
 */

/** Default time a retired key is kept after a switch (`depctl run --retired-key-grace`). */
export const DEFAULT_RETIRED_KEY_GRACE_MS = 7 * 86_400_000;

/** `secrets/paris/key.pem` → `secrets/paris/key` (the stem staged, retired and certificate files share). */
export function keyStem(keyPath: string): string {
  return keyPath.replace(/\.pem$/i, '');
}

/** Where `keys rotate` writes the staged private key: `<key>.next.pem`. */
export function stagedKeyPath(keyPath: string): string {
  return `${keyStem(keyPath)}.next.pem`;
}

/** Where `keys rotate` writes the staged key's certificate: `<key>.next.cert.pem` (public). */
export function stagedCertPath(keyPath: string): string {
  return `${keyStem(keyPath)}.next.cert.pem`;
}

/** Where the certificate of the current key is moved on a switch: `<key>.cert.pem` (public). */
export function currentCertPath(keyPath: string): string {
  return `${keyStem(keyPath)}.cert.pem`;
}

/** Where the key replaced by a switch is kept until the grace period ends: `<key>.retired-YYYY-MM-DD.pem`. */
export function retiredKeyPath(keyPath: string, at: Date): string {
  return `${keyStem(keyPath)}.retired-${at.toISOString().slice(0, 10)}.pem`;
}

