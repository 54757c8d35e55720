/**
 * The one table's key schema, shared by the DynamoDB adapter, local mode (which creates the
 * table in DynamoDB Local) and the CDK stack, so the three cannot drift apart.
 * Access patterns: docs/DATA-MODEL.md.
 */
export const TABLE_SCHEMA = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Apps by GitLab project: `PROJID#<id>` once the id is known, else `PROJ#<lower-case path>`. */
  projectIndex: { name: 'byProject', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  /** Epoch seconds; DynamoDB's TTL removes expired delivery records. */
  ttlAttribute: 'expiresAt',
} as const;
