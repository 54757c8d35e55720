import { resolveTarget } from '../../cli/api-client';
import { executeApiRegion, signRequest } from '../../cli/aws-auth';

describe('the CLI on AWS', () => {
  it('recognises API Gateway URLs and their region', () => {
    expect(executeApiRegion('https://abc123.execute-api.eu-west-1.amazonaws.com')).toBe('eu-west-1');
    expect(executeApiRegion('https://slipway.example.com')).toBeUndefined();
  });

  it('calls an API Gateway URL without a token with SigV4, and a token wins when given', async () => {
    const url = 'https://abc123.execute-api.eu-west-1.amazonaws.com/';
    expect(await resolveTarget({}, { SLIPWAY_URL: url, SLIPWAY_HOME: '/nonexistent' })).toEqual({
      url: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
      auth: { kind: 'sigv4', region: 'eu-west-1' },
    });
    expect((await resolveTarget({ apiToken: 't' }, { SLIPWAY_URL: url })).auth).toEqual({ kind: 'bearer', token: 't' });
  });

  it('signs for execute-api with credentials from the default chain', async () => {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'wJalrXUtnFEMI/K7MDENG' });
    delete process.env.AWS_PROFILE;
    try {
      const headers = await signRequest(
        new URL('https://abc123.execute-api.eu-west-1.amazonaws.com/v1/apps?limit=5'),
        'POST',
        { 'content-type': 'application/json' },
        '{"name":"web"}',
        'eu-west-1',
      );
      expect(headers.authorization).toMatch(
        /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/execute-api\/aws4_request, SignedHeaders=[^,]*host[^,]*, Signature=[0-9a-f]{64}$/,
      );
      expect(headers['x-amz-date']).toMatch(/^\d{8}T\d{6}Z$/);
      expect(headers.authorization).not.toContain('wJalrXUtnFEMI');
    } finally {
      process.env = saved;
    }
  });
});
