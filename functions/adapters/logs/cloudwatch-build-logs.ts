import {
  type CloudWatchLogsClient,
  GetLogEventsCommand,
  type GetLogEventsCommandOutput,
} from '@aws-sdk/client-cloudwatch-logs';
import type { BuildLogs } from '../../domain/ports';

export interface CloudWatchBuildLogsOptions {
  client: CloudWatchLogsClient;
  /**
   * How many empty pages to skip in one read. GetLogEvents may answer an empty page with a new
   * token before the end of the stream; at the end it hands back the token it was given.
   * @default 5
   */
  maxEmptyPages?: number;
}

/**
 * Build logs from CloudWatch Logs. A log location is `<group>:<stream>` (group names cannot
 * contain a colon); the cursor is GetLogEvents' forward token, read from the head of the stream.
 * Before CodeBuild creates the stream there is nothing to read: no lines, the same cursor.
 */
export class CloudWatchBuildLogs implements BuildLogs {
  constructor(private readonly options: CloudWatchBuildLogsOptions) {}

  async read(logLocation: string, cursor?: string): Promise<{ lines: string[]; cursor: string }> {
    const { group, stream } = parseLogLocation(logLocation);
    const lines: string[] = [];
    let token = cursor === '' ? undefined : cursor;
    const maxEmptyPages = this.options.maxEmptyPages ?? 5;
    for (let empty = 0; empty <= maxEmptyPages; ) {
      let out: GetLogEventsCommandOutput;
      try {
        out = await this.options.client.send(
          new GetLogEventsCommand({
            logGroupName: group,
            logStreamName: stream,
            startFromHead: true,
            ...(token !== undefined ? { nextToken: token } : {}),
          }),
        );
      } catch (error) {
        if (error instanceof Error && error.name === 'ResourceNotFoundException') break;
        throw error;
      }
      for (const event of out.events ?? []) lines.push(...toLines(event.message ?? ''));
      const next = out.nextForwardToken;
      const atEnd = next === undefined || next === token;
      token = next ?? token;
      if (atEnd || (out.events?.length ?? 0) > 0) break;
      empty++;
    }
    return { lines, cursor: token ?? '' };
  }
}

export function parseLogLocation(logLocation: string): { group: string; stream: string } {
  const colon = logLocation.indexOf(':');
  const group = logLocation.slice(0, colon);
  const stream = logLocation.slice(colon + 1);
  if (colon <= 0 || stream === '') throw new Error(`not a CloudWatch log location (group:stream): ${logLocation}`);
  return { group, stream };
}

/** CodeBuild writes one line per event, newline included; a message may still hold several. */
function toLines(message: string): string[] {
  const text = message.replace(/\r?\n$/, '');
  return text.split(/\r?\n/);
}
