import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import 'aws-sdk-client-mock-jest';
import {
  SLACK_URL_TTL_MS,
  SlackUrlError,
  slackUrlFromEnv,
  slackUrlFromSecretsManager,
  validateSlackWebhookUrl,
} from '../../functions/adapters/notify/slack-url';

const HOOK = 'https://hooks.slack.com/services/T0SLIPWAY/B0RELEASES/s3cr3tW3bh00kT0k3n';
const ROTATED = 'https://hooks.slack.com/services/T0SLIPWAY/B0RELEASES/r0t4t3dT0k3n';
const SECRET_ID = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:slipway/slack-AbCdEf';

/** The error a call failed with, checked to carry no webhook URL. */
function refusal(call: () => unknown): SlackUrlError {
  let caught: unknown;
  try {
    call();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SlackUrlError);
  expect(String((caught as Error).message)).not.toMatch(/s3cr3t|evil/);
  return caught as SlackUrlError;
}

describe('the Slack webhook URL from Secrets Manager', () => {
  const secrets = mockClient(SecretsManagerClient);
  const client = new SecretsManagerClient({ region: 'eu-west-1' });
  let clock: number;
  const now = () => clock;

  beforeEach(() => {
    secrets.reset();
    clock = 1_000_000;
  });

  it('reads a JSON secret {"url": …} by its id', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify({ url: HOOK }) });

    expect(await slackUrlFromSecretsManager(client, SECRET_ID)()).toBe(HOOK);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: SECRET_ID });
  });

  it('reads a secret holding the bare URL, trimmed', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: `  ${HOOK}\n` });

    expect(await slackUrlFromSecretsManager(client, SECRET_ID)()).toBe(HOOK);
  });

  it('reads a binary secret as UTF-8', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretBinary: new TextEncoder().encode(HOOK) });

    expect(await slackUrlFromSecretsManager(client, SECRET_ID)()).toBe(HOOK);
  });

  it('keeps the URL for five minutes per cold start, then reads it again (rotation)', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: JSON.stringify({ url: HOOK }) })
      .resolves({ SecretString: JSON.stringify({ url: ROTATED }) });
    const url = slackUrlFromSecretsManager(client, SECRET_ID, { now });

    expect(await url()).toBe(HOOK);
    clock += SLACK_URL_TTL_MS - 1;
    expect(await url()).toBe(HOOK);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);

    clock += 1;
    expect(await url()).toBe(ROTATED);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 2);
  });

  it('shares one read between concurrent callers', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: HOOK });
    const url = slackUrlFromSecretsManager(client, SECRET_ID);

    const all = await Promise.all([url(), url(), url()]);

    expect(all).toEqual([HOOK, HOOK, HOOK]);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
  });

  it('keeps serving the URL it had when a refresh fails, and reads again on the next call', async () => {
    secrets
      .on(GetSecretValueCommand)
      .resolvesOnce({ SecretString: HOOK })
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' }))
      .resolves({ SecretString: ROTATED });
    const url = slackUrlFromSecretsManager(client, SECRET_ID, { now });

    await url();
    clock += SLACK_URL_TTL_MS;
    expect(await url()).toBe(HOOK);
    expect(await url()).toBe(ROTATED);
  });

  it('fails, naming the secret and the AWS error, when the first read fails, and is not cached', async () => {
    secrets
      .on(GetSecretValueCommand)
      .rejectsOnce(Object.assign(new Error('User is not authorized'), { name: 'AccessDeniedException' }))
      .resolves({ SecretString: HOOK });
    const url = slackUrlFromSecretsManager(client, SECRET_ID);

    await expect(url()).rejects.toThrow(`cannot read the Slack webhook secret ${SECRET_ID} (AccessDeniedException)`);
    expect(await url()).toBe(HOOK);
  });

  it.each([
    ['an empty secret', ''],
    ['JSON without a url', '{}'],
    ['JSON with an empty url', '{"url": ""}'],
  ])('takes %s for "Slack not configured"', async (_case, value) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: value });

    expect(await slackUrlFromSecretsManager(client, SECRET_ID)()).toBeUndefined();
  });

  it.each([
    [
      'a URL on another host',
      JSON.stringify({ url: 'https://evil.example/services/T/B/x' }),
      /Slack incoming-webhook URL/,
    ],
    ['plain http', JSON.stringify({ url: HOOK.replace('https:', 'http:') }), /must be an https URL/],
    ['broken JSON', '{"url": ', /neither JSON/],
    ['a url that is not a string', '{"url": 42}', /"url" must be a string/],
  ])('refuses %s, without showing the value', async (_case, value, message) => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: value });

    const error = await slackUrlFromSecretsManager(client, SECRET_ID)().then(
      () => undefined,
      (e: unknown) => e as Error,
    );

    expect(error).toBeInstanceOf(SlackUrlError);
    expect(error?.message).toMatch(message);
    expect(error?.message).toContain(SECRET_ID);
    expect(error?.message).not.toContain('evil.example');
  });

  it('accepts any https URL when told to (a self-hosted relay)', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'https://relay.internal.example/slack/hook' });

    const url = slackUrlFromSecretsManager(client, SECRET_ID, { allowAnyHttps: true });

    expect(await url()).toBe('https://relay.internal.example/slack/hook');
  });
});

describe('the Slack webhook URL from the environment (local mode)', () => {
  it('is undefined when SLACK_WEBHOOK_URL is unset or blank', () => {
    expect(slackUrlFromEnv({})).toBeUndefined();
    expect(slackUrlFromEnv({ SLACK_WEBHOOK_URL: '  ' })).toBeUndefined();
  });

  it('takes a Slack URL and, by default, an http receiver on loopback', () => {
    expect(slackUrlFromEnv({ SLACK_WEBHOOK_URL: HOOK })).toBe(HOOK);
    expect(slackUrlFromEnv({ SLACK_WEBHOOK_URL: 'http://127.0.0.1:9999/hook' })).toBe('http://127.0.0.1:9999/hook');
    expect(slackUrlFromEnv({ SLACK_WEBHOOK_URL: 'http://localhost:9999/hook' })).toBe('http://localhost:9999/hook');
  });

  it('takes any https receiver (a Slack-compatible one, e.g. Mattermost) in local mode', () => {
    const url = 'https://chat.example.com/hooks/abc';
    expect(slackUrlFromEnv({ SLACK_WEBHOOK_URL: url })).toBe(url);
    refusal(() => slackUrlFromEnv({ SLACK_WEBHOOK_URL: url }, { allowLoopbackHttp: true }));
  });

  it('fails fast, naming the variable and not the value', () => {
    const error = refusal(() => slackUrlFromEnv({ SLACK_WEBHOOK_URL: 'http://hooks.slack.com/services/s3cr3t' }));

    expect(error.message).toBe('SLACK_WEBHOOK_URL must be an https URL (or http to a loopback address)');
  });

  it('refuses loopback http when the rules do not allow it', () => {
    refusal(() => slackUrlFromEnv({ SLACK_WEBHOOK_URL: 'http://127.0.0.1:9999/hook' }, {}));
  });
});

describe('validating a Slack webhook URL', () => {
  it.each([HOOK, 'https://hooks.slack-gov.com/services/T0/B0/xyz', 'https://hooks.slack.com/triggers/T0/123/abc'])(
    'accepts %s',
    (url) => {
      expect(validateSlackWebhookUrl(url, 'the URL')).toBe(url);
    },
  );

  it.each([
    ['not a URL', 'hooks.slack.com/services/s3cr3t', 'the URL is not a URL'],
    ['credentials', 'https://user:s3cr3t@hooks.slack.com/services/T/B/x', 'the URL must not carry credentials'],
    ['another scheme', 'ftp://hooks.slack.com/services/s3cr3t', 'the URL must be an https URL'],
    ['a look-alike host', 'https://hooks.slack.com.evil.example/services/s3cr3t', /Slack incoming-webhook URL/],
    ['another port', 'https://hooks.slack.com:8443/services/s3cr3t', /Slack incoming-webhook URL/],
    ['no path', 'https://hooks.slack.com/', /Slack incoming-webhook URL/],
  ])('refuses %s', (_case, url, message) => {
    const error = refusal(() => validateSlackWebhookUrl(url, 'the URL'));

    expect(error.message).toMatch(message);
  });

  it('refuses plain http even with any https allowed', () => {
    refusal(() => validateSlackWebhookUrl('http://relay.example/hook', 'the URL', { allowAnyHttps: true }));
  });
});
