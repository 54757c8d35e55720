import { Sha256 } from '@aws-crypto/sha256-js';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { SignatureV4 } from '@smithy/signature-v4';

/** The region of an API Gateway URL (`{id}.execute-api.{region}.amazonaws.com`), if it is one. */
export function executeApiRegion(url: string): string | undefined {
  return /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
}

/**
 * Signs an admin-API request with SigV4 (service `execute-api`) using the default credential
 * chain (env, profile, SSO, instance role…): the /v1 routes are IAM-authorised on AWS.
 */
export async function signRequest(
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  region: string,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: 'execute-api',
    region,
    credentials: fromNodeProviderChain(),
    sha256: Sha256,
  });
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = value;
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    path: url.pathname,
    query,
    headers: { ...headers, host: url.host },
    ...(body !== undefined ? { body } : {}),
  });
  return signed.headers as Record<string, string>;
}

/** The `ApiUrl` output of the deployed stack. */
export async function apiUrlFromStack(stackName: string): Promise<string> {
  const out = await new CloudFormationClient({}).send(new DescribeStacksCommand({ StackName: stackName }));
  const url = out.Stacks?.[0]?.Outputs?.find((o) => o.OutputKey === 'ApiUrl')?.OutputValue;
  if (!url) throw new Error(`stack ${stackName} has no ApiUrl output`);
  return url;
}
