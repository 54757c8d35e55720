import { type Rights, rightsFor } from '../domain/access';
import type { App } from '../domain/model';

/** Reads a user's access level on a project from GitLab (undefined: not a member). */
export type MemberLevelReader = (project: number | string, userId: number) => Promise<number | undefined>;

export const RIGHTS_TTL_MS = 60_000;
const MAX_ENTRIES = 10_000;

/**
 * A user's rights on an app, from GitLab's members API, remembered for at most 60 s per
 * (user, project) so a page with many apps does not ask GitLab again on every poll. A failed
 * read is not remembered, and never counts as allowed.
 */
export class RightsCache {
  private readonly entries = new Map<string, { level: number | undefined; at: number }>();

  constructor(
    private readonly read: MemberLevelReader,
    private readonly now: () => number = Date.now,
  ) {}

  async rights(app: App, userId: string): Promise<Rights> {
    const project = app.projectId ?? app.project;
    const id = Number(userId);
    if (!Number.isSafeInteger(id) || id <= 0) return rightsFor(undefined);
    const key = `${id}\n${project}`;
    const cached = this.entries.get(key);
    if (cached && this.now() - cached.at < RIGHTS_TTL_MS) return rightsFor(cached.level);
    const level = await this.read(project, id);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(key, { level, at: this.now() });
    return rightsFor(level);
  }
}
