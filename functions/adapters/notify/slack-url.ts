import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * Where the Slack incoming-webhook URL comes from: Secrets Manager on AWS, the environment in
 * local mode. The URL is a credential (whoever has it can post to the channel): no message, log
 * line or error here ever contains it.
 */

/** Slack's incoming-webhook hosts (commercial and GovSlack). */
const SLACK_HOSTS = ['hooks.slack.com', 'hooks.slack-gov.com'];
const LOOPBACK_HOSTS = ['127.0.0.1', 'localhost', '[::1]'];

/** How long a URL read from Secrets Manager is used before it is read again (rotation). */
export const SLACK_URL_TTL_MS = 5 * 60_000;

export interface SlackUrlRules {
  /** Any https URL, not only Slack's hosts (a self-hosted relay, a proxy). @default false */
  allowAnyHttps?: boolean;
  /** Plain http to a loopback address (tests, local mode). @default false */
  allowLoopbackHttp?: boolean;
}

/** The webhook URL is missing, malformed or not where Slack's webhooks live. Never carries the URL. */
export class SlackUrlError extends Error {
  override name = 'SlackUrlError';
}

/**
 * Checks a webhook URL: `https://hooks.slack.com/…` (or GovSlack's) with a path, no credentials;
 * any https URL with `allowAnyHttps`; `http://127.0.0.1…` with `allowLoopbackHttp`. Returns it
 * trimmed. `what` names the source in the error (e.g. `SLACK_WEBHOOK_URL`).
 */
export function validateSlackWebhookUrl(raw: string, what: string, rules: SlackUrlRules = {}): string {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new SlackUrlError(`${what} is not a URL`);
  }
  if (url.username || url.password) throw new SlackUrlError(`${what} must not carry credentials`);
  const loopback = LOOPBACK_HOSTS.includes(url.hostname);
  if (loopback && rules.allowLoopbackHttp && (url.protocol === 'http:' || url.protocol === 'https:')) return text;
  if (url.protocol !== 'https:') {
    throw new SlackUrlError(
      `${what} must be an https URL${rules.allowLoopbackHttp ? ' (or http to a loopback address)' : ''}`,
    );
  }
  if (rules.allowAnyHttps) return text;
  if (!SLACK_HOSTS.includes(url.hostname) || url.port !== '' || url.pathname.length <= 1) {
    throw new SlackUrlError(`${what} must be a Slack incoming-webhook URL (https://hooks.slack.com/services/…)`);
  }
  return text;
}

/**
 * Local mode: `SLACK_WEBHOOK_URL`, checked once at start-up (a malformed value fails fast, naming
 * the variable). Undefined when unset or blank: local mode then writes notices to the console.
 * Loopback http and any https URL (a Slack-compatible receiver) are allowed by default here.
 */
export function slackUrlFromEnv(
  env: NodeJS.ProcessEnv = process.env,
  rules: SlackUrlRules = { allowLoopbackHttp: true, allowAnyHttps: true },
): string | undefined {
  const raw = env.SLACK_WEBHOOK_URL;
  if (raw === undefined || raw.trim() === '') return undefined;
  return validateSlackWebhookUrl(raw, 'SLACK_WEBHOOK_URL', rules);
}

export interface SecretsManagerSlackUrlOptions extends SlackUrlRules {
  /** @default SLACK_URL_TTL_MS */
  ttlMs?: number;
  /** Milliseconds clock, for tests. @default Date.now */
  now?: () => number;
}

/**
 * AWS: a provider reading the URL from a Secrets Manager secret, whose value is JSON
 * `{"url": "https://hooks.slack.com/…"}` or the bare URL. Create it once per cold start: it
 * keeps the value for `ttlMs` (5 min), shares one read between concurrent callers, and when a
 * refresh fails it keeps serving the value it had. A secret that is empty or JSON without `url`
 * means "Slack not configured" (undefined); a value that is not a webhook URL is an error.
 */
export function slackUrlFromSecretsManager(
  client: SecretsManagerClient,
  secretId: string,
  options: SecretsManagerSlackUrlOptions = {},
): () => Promise<string | undefined> {
  const ttlMs = options.ttlMs ?? SLACK_URL_TTL_MS;
  const now = options.now ?? Date.now;
  let cached: { value: string | undefined; at: number } | undefined;
  let inFlight: Promise<string | undefined> | undefined;

  const read = async (): Promise<string | undefined> => {
    let secret: { SecretString?: string; SecretBinary?: Uint8Array };
    try {
      secret = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      throw new SlackUrlError(`cannot read the Slack webhook secret ${secretId} (${name})`, { cause: error });
    }
    const text = secret.SecretString ?? (secret.SecretBinary ? Buffer.from(secret.SecretBinary).toString('utf8') : '');
    return parseSecretValue(text, `the Slack webhook secret ${secretId}`, options);
  };

  return async () => {
    if (cached && now() - cached.at < ttlMs) return cached.value;
    inFlight ??= read()
      .then((value) => {
        cached = { value, at: now() };
        return value;
      })
      .catch((error: unknown) => {
        if (cached) return cached.value;
        throw error;
      })
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  };
}

function parseSecretValue(raw: string, what: string, rules: SlackUrlRules): string | undefined {
  const text = raw.trim();
  if (text === '') return undefined;
  if (!text.startsWith('{')) return validateSlackWebhookUrl(text, what, rules);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SlackUrlError(`${what} is neither JSON {"url": …} nor a URL`);
  }
  const url = parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>).url : undefined;
  if (url === undefined || url === null || url === '') return undefined;
  if (typeof url !== 'string') throw new SlackUrlError(`${what}: "url" must be a string`);
  return validateSlackWebhookUrl(url, what, rules);
}
