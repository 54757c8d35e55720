import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as kms from 'aws-cdk-lib/aws-kms';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../functions/adapters/dynamodb/schema';

export interface StateProps {
  /**
   * What happens to the table and the key when they leave the stack.
   * @default RemovalPolicy.RETAIN - builds, releases and encrypted secrets outlive a `cdk destroy`
   */
  readonly removalPolicy?: RemovalPolicy;

  /**
   * Whether DynamoDB refuses to delete the table.
   * @default true
   */
  readonly deletionProtection?: boolean;
}

/**
 * Slipway's state: the one DynamoDB table (key schema shared with the adapter and local mode
 * through `TABLE_SCHEMA`) and the KMS key that encrypts the secrets stored in it.
 *
 * The table is encrypted at rest with the AWS-managed key (`aws/dynamodb`), not with the
 * secrets key. Secrets are already encrypted field by field with the secrets key under an
 * encryption context that names their purpose; encrypting the table with that same key would
 * force every function that reads the table to hold unrestricted Decrypt/Encrypt on it, which
 * would void those purpose restrictions. A second customer-managed key would add cost and a
 * key policy to look after without protecting anything the AWS-managed key does not.
 */
export class State extends Construct {
  /** The table holding apps, builds, releases and delivery records. */
  public readonly table: dynamodb.Table;

  /** The global secondary indexes of {@link table}, by name. */
  public readonly indexNames: readonly string[];

  /** Encrypts GitLab tokens, webhook signing secrets and deploy keys (context key `purpose`). */
  public readonly key: kms.Key;

  constructor(scope: Construct, id: string, props: StateProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;

    this.key = new kms.Key(this, 'SecretsKey', {
      description: 'Slipway: encrypts GitLab tokens, webhook signing secrets and deploy keys',
      enableKeyRotation: true,
      pendingWindow: Duration.days(30),
      removalPolicy,
    });

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: props.deletionProtection ?? true,
      timeToLiveAttribute: TABLE_SCHEMA.ttlAttribute,
      removalPolicy,
    });
    const index = TABLE_SCHEMA.projectIndex;
    this.table.addGlobalSecondaryIndex({
      indexName: index.name,
      partitionKey: { name: index.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: index.sortKey, type: dynamodb.AttributeType.STRING },
      projectionType: dynamodb.ProjectionType.ALL,
    });
    this.indexNames = [index.name];
  }
}
