import { createGitlabApi } from '../adapters/gitlab/gitbeaker-client';
import type { GitlabApiFactory } from '../domain/ports';

/**
 * GitLab's REST API through @gitbeaker, the same in Lambda and in local mode. Heavy: only the
 * admin API, the console and the release steps import it.
 */
export const gitlab = (): GitlabApiFactory => createGitlabApi;
