import { handleSystemEvents } from '../domain/system-hooks';
import { parseSystemEvent } from './gitlab-payloads';
import { httpHandler } from './middleware';
import type { WebhookDeps } from './project-webhook';
import { checkSize, HttpError, json, parseJsonBody, receivedAt } from './responses';
import { authenticate } from './webhook-auth';
import { logWorkflowFailure } from './workflow-failure';

/**
 * `POST /hooks/gitlab-system`: a GitLab system hook, authenticated by its own secret token.
 * Renames and transfers follow linked projects, destroys disable their apps, pushes build
 * through the same path as project webhooks; every other event is acknowledged and ignored.
 */
export function createSystemHookHandler(deps: WebhookDeps) {
  return httpHandler(deps.logger, async (event) => {
    checkSize(event);
    const tokenHash = await deps.store.getSystemHookTokenHash();
    if (!tokenHash) throw new HttpError(404, 'system hooks are not enabled');
    await authenticate(event, { tokenHash }, deps.vault);
    const body = parseJsonBody(event);
    const result = await handleSystemEvents(
      { ...deps, onWorkflowError: logWorkflowFailure(deps.logger) },
      parseSystemEvent(body),
      receivedAt(event),
    );
    deps.logger.info('system event handled', { outcome: result.outcome });
    switch (result.outcome) {
      case 'started': {
        const [first] = result.builds;
        const ids = result.builds.map((b) => b.id);
        return result.duplicate
          ? json(200, { duplicate: true, build: first?.id, builds: ids })
          : json(202, { build: first?.id, builds: ids });
      }
      case 'updated':
        return json(200, { updated: result.apps });
      case 'ignored':
        return json(200, { ignored: result.reason });
    }
  });
}
