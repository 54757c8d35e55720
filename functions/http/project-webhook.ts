import type { Logger } from '@aws-lambda-powertools/logger';
import { HOOK_ID_PATTERN } from '../domain/ids';
import { ingestPush, triggerOf } from '../domain/ingest';
import type { App } from '../domain/model';
import type { Store, Vault, Workflow } from '../domain/ports';
import { ingestMergeRequest, reviewTemplate } from '../domain/review-apps';
import { MERGE_REQUEST_EVENT, PROJECT_PUSH_EVENTS, parseMergeRequest, parsePush } from './gitlab-payloads';
import { httpHandler } from './middleware';
import { checkSize, HttpError, header, json, parseJsonBody, receivedAt } from './responses';
import { UnknownHookIds } from './unknown-hooks';
import { authenticate, deliveryKey } from './webhook-auth';
import { logWorkflowFailure } from './workflow-failure';

export interface WebhookDeps {
  store: Store;
  workflow: Workflow;
  vault: Vault;
  logger: Logger;
  /**
   * Hook ids known not to exist, consulted before any read. @default a new one per handler
   * (one per Lambda container or local-mode process): 10,000 ids for 60 s each.
   */
  unknownHooks?: UnknownHookIds;
}

/**
 * `POST /hooks/gitlab/{hookId}`: a GitLab project webhook. Thin: check the request, let the
 * domain decide, map the outcome to the contract's codes (202 started, 200 ignored/duplicate).
 */
export function createProjectWebhookHandler(deps: WebhookDeps) {
  const unknownHooks = deps.unknownHooks ?? new UnknownHookIds();
  return httpHandler(deps.logger, async (event) => {
    checkSize(event);
    const hookId = event.pathParameters?.hookId ?? '';
    // Malformed or recently found unknown: 404 without a read.
    if (!HOOK_ID_PATTERN.test(hookId) || unknownHooks.has(hookId)) throw new HttpError(404, 'unknown hook');
    // One read: the hook pointer carries what ingest needs of its app.
    const app = await deps.store.findAppByHookId(hookId);
    if (!app) {
      unknownHooks.add(hookId);
      throw new HttpError(404, 'unknown hook');
    }
    // The signed webhook-id when the app signs: one more de-duplication key.
    const signedId = await authenticate(
      event,
      { tokenHash: app.hookSecretHash, signingSecretCiphertext: app.signingSecretCiphertext, app: app.name },
      deps.vault,
    );
    const body = parseJsonBody(event);
    const key = deliveryKey(event);
    const eventName = header(event, 'x-gitlab-event');
    if (eventName === MERGE_REQUEST_EVENT) {
      const delivery = { source: hookId, key, ...(signedId ? { signedId } : {}), receivedAt: receivedAt(event) };
      return mergeRequestEvent(deps, app, body, delivery);
    }
    const kind =
      eventName !== undefined && Object.hasOwn(PROJECT_PUSH_EVENTS, eventName)
        ? PROJECT_PUSH_EVENTS[eventName]
        : undefined;
    if (kind === undefined) {
      return json(200, { ignored: `event ${eventName ?? '(no X-Gitlab-Event)'} is not acted on` });
    }
    const push = parsePush(body, kind);
    const result = await ingestPush({ ...deps, onWorkflowError: logWorkflowFailure(deps.logger) }, app, push, {
      source: hookId,
      key,
      ...(signedId ? { signedId } : {}),
      trigger: triggerOf(push, 'project'),
      receivedAt: receivedAt(event),
    });
    deps.logger.info('delivery handled', { app: app.name, delivery: key, outcome: result.outcome });
    switch (result.outcome) {
      case 'started':
        return json(202, { build: result.build.id });
      case 'duplicate':
        return json(200, { duplicate: true, build: result.build.id });
      case 'ignored':
        return json(200, { ignored: result.reason });
    }
  });
}

/**
 * A `Merge Request Hook` (review apps, domain/review-apps.ts): a build of the merge request's
 * head, a teardown, a refusal, or ignored. An app without review apps ignores them whatever they
 * hold: its hook sends them since `apps link`, and GitLab counts a 4xx as a failed delivery.
 */
async function mergeRequestEvent(
  deps: WebhookDeps,
  app: App,
  body: unknown,
  delivery: { source: string; key?: string; signedId?: string; receivedAt?: Date },
) {
  if (!reviewTemplate(await deps.store.listEnvironments(app.name))) {
    return json(200, { ignored: `app ${app.name} has no review apps` });
  }
  const parsed = parseMergeRequest(body);
  if ('ignored' in parsed) return json(200, { ignored: parsed.ignored });
  const result = await ingestMergeRequest(
    { ...deps, onWorkflowError: logWorkflowFailure(deps.logger) },
    app,
    parsed,
    delivery,
  );
  deps.logger.info('merge request event handled', {
    app: app.name,
    delivery: delivery.key,
    mergeRequest: parsed.iid,
    action: parsed.action,
    outcome: result.outcome,
  });
  switch (result.outcome) {
    case 'started':
      return json(202, { build: result.build.id });
    case 'duplicate':
      return json(200, { duplicate: true, build: result.build.id });
    case 'job':
      return json(202, { job: result.job.id, kind: result.job.kind });
    case 'ignored':
      return json(200, { ignored: result.reason });
  }
}
