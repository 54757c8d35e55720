/** Encrypts secrets at rest. The context binds a ciphertext to its purpose and app. */
export interface Vault {
  encrypt(plaintext: string, context: VaultContext): Promise<string>;
  decrypt(ciphertext: string, context: VaultContext): Promise<string>;
}

export interface VaultContext {
  purpose: 'gitlab-token' | 'webhook-signing-secret' | 'deploy-key' | 'oauth-client-secret' | 'env-config';
  app?: string;
  /**
   * The app environment an `env-config` ciphertext (its configuration values) belongs to
   * (required, with `app`, for that purpose): it opens for no other environment or app.
   */
  environment?: string;
  /**
   * The normalised GitLab instance URL a GitLab token or OAuth client secret is for (required
   * for those two purposes): a ciphertext opens only for the instance it was sealed for, so a
   * URL rewritten in the table gets no token sent elsewhere.
   */
  instance?: string;
}
