import { ConflictError, StaleWriteError, ValidationError } from '../../domain/errors';
import { idTimePrefix } from '../../domain/ids';
import type { Build, BuildStatus, Delivery, ReleaseOutcome, ReportRecord } from '../../domain/model';
import { assertBuildTransition } from '../../domain/states';
import { type Item, items, type Key, keyOf, keys, PK, pick, SK, UNSTARTED_PARTITION } from './keys';
import {
  backoff,
  conditionFailureItem,
  isConditionFailure,
  isTransactionCanceled,
  isTransactionConflict,
  MAX_TRANSACTION_ATTEMPTS,
  type TableAccess,
} from './table-access';

const BUILD_PATCH_KEYS = ['startedAt', 'endedAt', 'images', 'reason'] as const;

/** Builds, with the delivery keys that de-duplicate them and their start markers. */
export class BuildRecords {
  constructor(private readonly table: TableAccess) {}

  async recordBuild(
    build: Build,
    delivery?: Omit<Delivery, 'build' | 'app'> | ReadonlyArray<Omit<Delivery, 'build' | 'app'>>,
  ): Promise<{ build: Build; duplicate: boolean }> {
    const deliveries: Array<Omit<Delivery, 'build' | 'app'>> =
      delivery === undefined
        ? []
        : Array.isArray(delivery)
          ? [...(delivery as ReadonlyArray<Omit<Delivery, 'build' | 'app'>>)]
          : [delivery as Omit<Delivery, 'build' | 'app'>];
    const buildPut = {
      Put: {
        TableName: this.table.tableName,
        Item: items.build(build),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      },
    };
    // Written with the build, removed once it is handed to the builder or leaves `queued`: what the sweep finds.
    const markerPut = {
      Put: {
        TableName: this.table.tableName,
        Item: items.startMarker(build),
      },
    };
    const deliveryKeys = deliveries.map((d) => keys.delivery(d.source, d.key));
    const deliveryPuts = deliveries.map((d) => ({
      Put: {
        TableName: this.table.tableName,
        Item: items.delivery(build, d, this.table.clock),
        ConditionExpression: 'attribute_not_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK },
      },
    }));
    const what =
      deliveries.length === 0
        ? `build ${build.app}/${build.id}`
        : `delivery ${deliveries.map((d) => d.source).join(', ')}`;

    for (let attempt = 1; ; attempt++) {
      if (attempt > 1 && deliveryKeys.length > 0) {
        // Someone else may have won meanwhile: answer from their record instead of racing again.
        const earlier = await this.duplicateAnswer(deliveryPuts, () => true);
        if (earlier) return { build: earlier, duplicate: true };
      }
      try {
        await this.table.sendTransaction([...deliveryPuts, buildPut, markerPut]);
        return { build, duplicate: false };
      } catch (error) {
        if (!isTransactionCanceled(error)) throw error;
        const reasons = error.CancellationReasons ?? [];
        if (deliveryKeys.some((_, i) => isConditionFailure(reasons[i]))) {
          const earlier = await this.duplicateAnswer(deliveryPuts, (i) => isConditionFailure(reasons[i]));
          if (earlier) return { build: earlier, duplicate: true };
          // The deliveries vanished (expired) or named a deleted build: try again.
        } else if (isConditionFailure(reasons[deliveryKeys.length])) {
          throw new ConflictError(`build ${build.id} of app ${build.app} already exists`);
        } else if (!reasons.some(isTransactionConflict)) {
          throw error;
        }
        if (attempt >= MAX_TRANSACTION_ATTEMPTS) {
          throw new StaleWriteError(`could not record ${what} after ${attempt} attempts (contention)`);
        }
        await backoff(attempt);
      }
    }
  }

  async getBuild(app: string, id: string): Promise<Build | undefined> {
    return this.table.get<Build>(keys.build(app, id));
  }

  async listBuilds(app: string, options?: { limit?: number }): Promise<Build[]> {
    return this.table.listChildren<Build>(app, 'BUILD#', options?.limit);
  }

  async listBuildsSince(app: string, since: string): Promise<Build[]> {
    return this.table.listChildrenSince<Build>(app, 'BUILD#', since);
  }

  async transitionBuild(
    app: string,
    id: string,
    from: BuildStatus,
    to: BuildStatus,
    patch?: Partial<Pick<Build, 'startedAt' | 'endedAt' | 'images' | 'reason'>>,
  ): Promise<Build> {
    assertBuildTransition(from, to);
    const build = await this.table.transition<Build>(
      keys.build(app, id),
      `build ${app}/${id}`,
      from,
      to,
      pick(patch, BUILD_PATCH_KEYS),
    );
    // No longer queued: its workflow ran (or it ended), so the sweep has nothing to start.
    if (from === 'queued') await this.clearStartMarker(app, id);
    return build;
  }

  async listUnstartedBuilds(createdBefore: string): Promise<Array<{ app: string; build: string }>> {
    const at = Date.parse(createdBefore);
    if (!Number.isFinite(at)) throw new ValidationError(`createdBefore must be an ISO 8601 time, got ${createdBefore}`);
    const markers = await this.table.queryAll<{ app?: unknown; build?: unknown }>({
      KeyConditionExpression: '#pk = :pk AND #sk BETWEEN :from AND :to',
      ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
      // Ids made before `at` sort before its time prefix (`#` sorts before every id character).
      ExpressionAttributeValues: {
        ':pk': UNSTARTED_PARTITION,
        ':from': 'BUILD#',
        ':to': `BUILD#${idTimePrefix(new Date(at - 1))}~`,
      },
      ConsistentRead: true,
    });
    return markers.flatMap((m) =>
      typeof m.app === 'string' && typeof m.build === 'string' ? [{ app: m.app, build: m.build }] : [],
    );
  }

  async clearUnstartedBuild(app: string, id: string): Promise<void> {
    await this.table.delete({ Key: keys.unstarted(app, id) });
  }

  async updateBuildRun(
    app: string,
    id: string,
    patch: Partial<Pick<Build, 'builderRef' | 'logLocation' | 'phase' | 'waitToken'>>,
  ): Promise<void> {
    await this.table.setFields(
      keys.build(app, id),
      `build ${app}/${id}`,
      pick(patch, ['builderRef', 'logLocation', 'phase', 'waitToken']),
      {
        expression: '#status IN (:queued, :running)',
        values: { ':queued': 'queued', ':running': 'running' },
        stale: (old) => `build ${app}/${id} has ended (${String(old.status)})`,
      },
    );
    // Handed to the builder: its workflow runs, so the sweep has nothing to start.
    if (patch.builderRef !== undefined) await this.clearStartMarker(app, id);
  }

  async recordBuildOutcome(
    app: string,
    id: string,
    patch: { outcome: ReleaseOutcome; release?: string; report?: ReportRecord },
  ): Promise<void> {
    await this.table.setFields(
      keys.build(app, id),
      `build ${app}/${id}`,
      pick(patch, ['outcome', 'release', 'report']),
    );
  }

  /**
   * Removes a start marker once its build is seen started, after the write that shows it. A
   * failure here is not the caller's: the write it follows stands, and the sweep, which reads
   * the build first, removes a marker whose build started.
   */
  private async clearStartMarker(app: string, id: string): Promise<void> {
    try {
      await this.clearUnstartedBuild(app, id);
    } catch {
      // Left for the sweep (above).
    }
  }

  /**
   * The answer to a delivery some of whose keys were recorded before: the build named by the
   * first key (in the order given, of those `recorded` says to look at) that names one. The keys
   * ranked above it were new: they are recorded now as naming that build too, so a redelivery
   * under any of them gets this same answer — unless one was recorded meanwhile, whose build is
   * then the answer (a key always answers with the build it first named).
   */
  private async duplicateAnswer(
    deliveryPuts: Array<{ Put: { Item: Item & Key } }>,
    recorded: (index: number) => boolean,
  ): Promise<Build | undefined> {
    for (let i = 0; i < deliveryPuts.length; i++) {
      const put = deliveryPuts[i]?.Put;
      if (!put || !recorded(i)) continue;
      const earlier = await this.duplicateOf(keyOf(put.Item));
      if (!earlier) continue;
      for (const above of deliveryPuts.slice(0, i)) {
        const key = keyOf(above.Put.Item);
        try {
          await this.table.put({
            Item: { ...above.Put.Item, app: earlier.app, build: earlier.id },
            ConditionExpression: 'attribute_not_exists(#pk)',
            ExpressionAttributeNames: { '#pk': PK },
          });
        } catch (error) {
          if (conditionFailureItem(error) === null) throw error;
          const first = await this.duplicateOf(key);
          if (first) return first;
        }
      }
      return earlier;
    }
    return undefined;
  }

  /** The build an earlier delivery recorded, or undefined when there is none (any more). */
  private async duplicateOf(deliveryKey: Key): Promise<Build | undefined> {
    const delivery = await this.table.getRaw(deliveryKey);
    if (!delivery || typeof delivery.app !== 'string' || typeof delivery.build !== 'string') return undefined;
    const build = await this.getBuild(delivery.app, delivery.build);
    if (build) return build;
    // The delivery outlived its build (the app was deleted): forget it so this push is recorded afresh.
    try {
      await this.table.delete({
        Key: deliveryKey,
        ConditionExpression: '#build = :build',
        ExpressionAttributeNames: { '#build': 'build' },
        ExpressionAttributeValues: { ':build': delivery.build },
      });
    } catch (error) {
      if (conditionFailureItem(error) === null) throw error;
    }
    return undefined;
  }
}
