import { existsSync } from 'node:fs';
import { LocalVault } from '../adapters/vault/local-vault';

/**
 * Local mode's half of buildspecs/bin/decrypt-deploy-key: opens an `lv1:` deploy-key
 * ciphertext with the local vault and writes the plaintext to stdout (the script sends it
 * straight into a 0600 file). Reads SLIPWAY_DEPLOY_KEY_CIPHERTEXT, SLIPWAY_VAULT_KEY_FILE and
 * SLIPWAY_APP; the key opens only for purpose `deploy-key` and that app.
 *
 * The local builder bundles this file with esbuild (functions/build/bundle-tools.ts) and sets
 * SLIPWAY_LOCAL_DECRYPT to `'<node>' '<tools>/local-decrypt.mjs'`.
 */
async function main(): Promise<number> {
  const ciphertext = process.env.SLIPWAY_DEPLOY_KEY_CIPHERTEXT;
  const keyFile = process.env.SLIPWAY_VAULT_KEY_FILE;
  const app = process.env.SLIPWAY_APP;
  if (!ciphertext || !keyFile || !app) {
    process.stderr.write(
      'local-decrypt: SLIPWAY_DEPLOY_KEY_CIPHERTEXT, SLIPWAY_VAULT_KEY_FILE and SLIPWAY_APP must be set\n',
    );
    return 2;
  }
  // LocalVault.open would create a missing key file: a new key could never open this ciphertext.
  if (!existsSync(keyFile)) {
    process.stderr.write(`local-decrypt: vault key file ${keyFile} does not exist\n`);
    return 1;
  }
  try {
    const plaintext = await LocalVault.open(keyFile).decrypt(ciphertext, { purpose: 'deploy-key', app });
    process.stdout.write(plaintext);
    return 0;
  } catch (error) {
    process.stderr.write(`local-decrypt: ${(error as Error).message}\n`);
    return 1;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`local-decrypt: ${(error as Error).message}\n`);
    process.exitCode = 1;
  },
);
