import { Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigw from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * One JSON object per request. The route *template* is logged, never the path: a project
 * webhook's path carries its unguessable hook id. `userArn` names the IAM caller of `/v1`.
 */
const ACCESS_LOG_FIELDS = {
  requestId: '$context.requestId',
  requestTime: '$context.requestTime',
  sourceIp: '$context.identity.sourceIp',
  userAgent: '$context.identity.userAgent',
  userArn: '$context.identity.userArn',
  routeKey: '$context.routeKey',
  status: '$context.status',
  protocol: '$context.protocol',
  responseLength: '$context.responseLength',
  responseLatency: '$context.responseLatency',
  integrationStatus: '$context.integrationStatus',
  integrationLatency: '$context.integrationLatency',
  integrationError: '$context.integrationErrorMessage',
  error: '$context.error.message',
} as const;

export interface ApiProps {
  /** Serves `POST /hooks/gitlab/{hookId}` (GitLab project webhooks). */
  readonly projectWebhookHandler: lambda.IFunction;

  /** Serves `POST /hooks/gitlab-system` (GitLab system hooks). */
  readonly systemHookHandler: lambda.IFunction;

  /** Serves `ANY /v1/{proxy+}` (the admin API the CLI calls, IAM-authorized). */
  readonly adminHandler: lambda.IFunction;

  /**
   * Serves the web console: `GET /console`, `ANY /console/{proxy+}` and `ANY /auth/{proxy+}`
   * (sign-in with GitLab, sign-out). No authorizer: the console's session cookie authenticates.
   */
  readonly consoleHandler: lambda.IFunction;

  /**
   * Request rate limits of the stage, for every route together.
   * @default { rateLimit: 50, burstLimit: 100 } - far above any GitLab push rate, low enough to cap the cost of a flood
   */
  readonly throttle?: apigw.ThrottleSettings;

  /**
   * Request rate limits of the two GitLab hook routes, each its own token bucket, apart from the
   * stage's: noise on `/v1` or `/console` never turns GitLab's deliveries into 429s, which GitLab
   * counts as failures and, 4 in a row, answers by disabling the hook (docs/SECURITY.md).
   * @default { project: { rateLimit: 20, burstLimit: 100 }, system: { rateLimit: 50, burstLimit: 200 } }
   */
  readonly hookThrottle?: { readonly project?: apigw.ThrottleSettings; readonly system?: apigw.ThrottleSettings };

  /**
   * How long access logs are kept.
   * @default logs.RetentionDays.ONE_MONTH
   */
  readonly accessLogRetention?: logs.RetentionDays;
}

/**
 * The HTTP API: the two GitLab hook routes, which GitLab calls without AWS credentials (the
 * handlers authenticate each delivery by its secret token and, when present, its signature),
 * the admin API under `/v1`, which requires SigV4-signed requests (IAM authorization), and the
 * web console (`/console…`, `/auth/…`), which people reach with a browser and which
 * authenticates them itself (GitLab sign-in, then its session cookie).
 * One `$default` stage with access logging and throttling.
 */
export class Api extends Construct {
  public readonly httpApi: apigw.HttpApi;
  public readonly stage: apigw.HttpStage;
  public readonly accessLogs: logs.LogGroup;
  /** Base URL of the API, without a trailing slash (`https://{id}.execute-api.{region}.amazonaws.com`). */
  public readonly url: string;

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);

    this.httpApi = new apigw.HttpApi(this, 'HttpApi', {
      description: 'Slipway: GitLab webhooks, the admin API and the web console',
      createDefaultStage: false,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.accessLogRetention ?? logs.RetentionDays.ONE_MONTH,
    });
    this.stage = new apigw.HttpStage(this, 'DefaultStage', {
      httpApi: this.httpApi,
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle ?? { rateLimit: 50, burstLimit: 100 },
      accessLogSettings: {
        destination: new apigw.LogGroupLogDestination(this.accessLogs),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });
    this.url = this.httpApi.apiEndpoint;

    const projectWebhook = this.route('ProjectWebhookRoute', 'POST', '/hooks/gitlab/{hookId}', {
      integration: new HttpLambdaIntegration('ProjectWebhook', props.projectWebhookHandler),
    });
    const systemHook = this.route('SystemHookRoute', 'POST', '/hooks/gitlab-system', {
      integration: new HttpLambdaIntegration('SystemHook', props.systemHookHandler),
    });
    // Route-level throttling for the hook routes (the L2 stage has no route settings: set on the L1).
    const hookThrottle = {
      project: props.hookThrottle?.project ?? { rateLimit: 20, burstLimit: 100 },
      system: props.hookThrottle?.system ?? { rateLimit: 50, burstLimit: 200 },
    };
    const cfnStage = this.stage.node.defaultChild as apigw.CfnStage;
    cfnStage.routeSettings = {
      'POST /hooks/gitlab/{hookId}': routeThrottle(hookThrottle.project),
      'POST /hooks/gitlab-system': routeThrottle(hookThrottle.system),
    };
    // A stage's route settings name routes that must exist first.
    cfnStage.node.addDependency(projectWebhook, systemHook);
    for (const publicRoute of [projectWebhook, systemHook]) {
      Validations.of(publicRoute).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'GitLab cannot sign requests with AWS credentials. The handler authenticates every delivery ' +
          'itself: the per-hook secret token (X-Gitlab-Token, compared in constant time) and, when ' +
          'present, the Standard Webhooks HMAC signature with a timestamp tolerance.',
      });
    }
    this.route('AdminRoute', 'ANY', '/v1/{proxy+}', {
      integration: new HttpLambdaIntegration('Admin', props.adminHandler),
      authorizer: new HttpIamAuthorizer(),
    });

    // The console: one integration, three routes, the same as local mode's (docs/CONSOLE.md).
    const consoleIntegration = new HttpLambdaIntegration('Console', props.consoleHandler);
    const consoleRoutes = [
      this.route('ConsoleRoute', 'GET', '/console', { integration: consoleIntegration }),
      this.route('ConsolePagesRoute', 'ANY', '/console/{proxy+}', { integration: consoleIntegration }),
      this.route('ConsoleAuthRoute', 'ANY', '/auth/{proxy+}', { integration: consoleIntegration }),
    ];
    for (const consoleRoute of consoleRoutes) {
      Validations.of(consoleRoute).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason:
          'The console authenticates with its own session cookie after OpenID Connect sign-in with GitLab; ' +
          'API Gateway cannot check that cookie. The handler checks the session and the user’s GitLab rights ' +
          'on every request, and a CSRF token on every POST.',
      });
    }
  }

  private route(
    id: string,
    method: keyof typeof apigw.HttpMethod,
    path: string,
    options: { integration: apigw.HttpRouteIntegration; authorizer?: apigw.IHttpRouteAuthorizer },
  ): apigw.HttpRoute {
    return new apigw.HttpRoute(this, id, {
      httpApi: this.httpApi,
      routeKey: apigw.HttpRouteKey.with(path, apigw.HttpMethod[method]),
      ...options,
    });
  }
}

function routeThrottle(throttle: apigw.ThrottleSettings): Record<string, number> {
  return {
    ...(throttle.rateLimit !== undefined ? { ThrottlingRateLimit: throttle.rateLimit } : {}),
    ...(throttle.burstLimit !== undefined ? { ThrottlingBurstLimit: throttle.burstLimit } : {}),
  };
}
