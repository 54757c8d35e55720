import type { GitlabConnection } from '../../domain/model';
import { items, keys } from './keys';
import type { TableAccess } from './table-access';

/** The installation's configuration: the GitLab connection and the system-hook token's hash. */
export class ConfigRecords {
  constructor(private readonly table: TableAccess) {}

  async getGitlabConnection(): Promise<GitlabConnection | undefined> {
    return this.table.get<GitlabConnection>(keys.gitlab());
  }

  async putGitlabConnection(connection: GitlabConnection): Promise<void> {
    await this.table.put({ Item: items.gitlab(connection) });
  }

  async getSystemHookTokenHash(): Promise<string | undefined> {
    const item = await this.table.getRaw(keys.systemHook());
    return typeof item?.hash === 'string' ? item.hash : undefined;
  }

  async setSystemHookTokenHash(hash: string | undefined): Promise<void> {
    if (hash === undefined) {
      await this.table.delete({ Key: keys.systemHook() });
      return;
    }
    await this.table.put({ Item: items.systemHook(hash) });
  }
}
