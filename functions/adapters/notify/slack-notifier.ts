import type { Notifier, ReleaseNotice } from '../../domain/ports';
import type { AccountableNotifier, DeliveryOutcome } from '../../domain/reporting';
import { printable } from '../../domain/text';

export type { DeliveryOutcome };

export interface SlackNotifierOptions {
  /** The incoming-webhook URL (a secret), e.g. `slackUrlFromSecretsManager(…)`; undefined: not configured. */
  webhookUrl: () => Promise<string | undefined>;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Further tries after a failed attempt (network error, timeout, 429, 5xx). @default 3 */
  retries?: number;
  /** Per attempt. @default 5000 */
  timeoutMs?: number;
  /** First backoff; doubled per retry (with jitter), capped at `maxBackoffMs`. @default 500 */
  backoffMs?: number;
  /** @default 4000 */
  maxBackoffMs?: number;
  /** A longer `Retry-After` than this is not waited for: the notice gives up. @default 10000 */
  maxRetryAfterMs?: number;
  /** Told once per notice how it went (attempts is 0 when there was no URL); the error never holds the URL. */
  onOutcome?: (outcome: DeliveryOutcome) => void;
  /** For tests. @default setTimeout */
  sleep?: (ms: number) => Promise<void>;
}

const EMOJI: Record<ReleaseNotice['kind'], string> = {
  live: '✅',
  build_failed: '❌',
  rollout_failed: '❌',
  rolled_back: '↩️',
  awaiting_approval: '⏳',
  rejected: '🚫',
  expired: '⌛',
};

/**
 * Release notices as Slack Block Kit messages through an incoming webhook. Bounded: a few
 * retries with backoff on network errors, timeouts, 429 (honouring a short `Retry-After`) and
 * 5xx; other answers are final. `notify` never throws: it reports through `onOutcome`, and
 * `deliver` returns the outcome. The URL is a secret and appears in no outcome.
 */
export class SlackNotifier implements AccountableNotifier {
  private readonly fetch: typeof fetch;
  private readonly retries: number;
  private readonly timeoutMs: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: SlackNotifierOptions) {
    this.fetch = options.fetch ?? globalThis.fetch;
    this.retries = Math.max(0, Math.floor(options.retries ?? 3));
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.backoffMs = options.backoffMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 4000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  async notify(notice: ReleaseNotice): Promise<void> {
    await this.deliver(notice);
  }

  /** Posts the notice; never throws. */
  async deliver(notice: ReleaseNotice): Promise<DeliveryOutcome> {
    let outcome: DeliveryOutcome;
    let url: string | undefined;
    try {
      url = await this.options.webhookUrl();
      outcome = url
        ? await this.post(url, slackMessage(notice))
        : { delivered: false, attempts: 0, skipped: true, error: 'no Slack webhook URL configured' };
    } catch (error) {
      outcome = { delivered: false, attempts: 0, error: `Slack webhook URL unavailable: ${messageOf(error)}` };
    }
    if (outcome.error && url) outcome.error = redact(outcome.error, url);
    try {
      this.options.onOutcome?.(outcome);
    } catch {
      // A failing observer must not turn a notice into a failed release.
    }
    return outcome;
  }

  private async post(url: string, message: SlackMessage): Promise<DeliveryOutcome> {
    const body = JSON.stringify(message);
    const maxAttempts = this.retries + 1;
    let lastError = '';
    for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
      let waitMs: number | undefined;
      try {
        const response = await this.fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json; charset=utf-8' },
          body,
          redirect: 'error',
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        const said = await shortBody(response);
        if (response.ok) return { delivered: true, attempts: attempt };
        const detail = said ? ` ${said}` : '';
        if (response.status !== 429 && response.status < 500) {
          return {
            delivered: false,
            attempts: attempt,
            error: `Slack refused the notice (${response.status}${detail})`,
          };
        }
        lastError = `Slack answered ${response.status}${detail}`;
        const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
        if (retryAfterMs !== undefined) {
          if (retryAfterMs > this.maxRetryAfterMs) {
            return {
              delivered: false,
              attempts: attempt,
              error: `${lastError}; Retry-After ${Math.ceil(retryAfterMs / 1000)} s is too long to wait`,
            };
          }
          waitMs = retryAfterMs;
        }
      } catch (error) {
        lastError = isTimeout(error)
          ? `Slack did not answer within ${this.timeoutMs} ms`
          : `cannot reach Slack: ${messageOf(error)}`;
      }
      if (attempt < maxAttempts) await this.sleep(waitMs ?? this.backoff(attempt));
    }
    return {
      delivered: false,
      attempts: maxAttempts,
      error: `${lastError} (gave up after ${maxAttempts} attempt${maxAttempts === 1 ? '' : 's'})`,
    };
  }

  /** Exponential, with jitter so many releases failing at once do not retry in step. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }
}

/** Local mode without a webhook: one line per notice on a stream (stdout by default). */
export class ConsoleNotifier implements Notifier {
  constructor(private readonly stream: NodeJS.WritableStream = process.stdout) {}

  /** Commit titles, authors, refs and reasons come from pushes: no control character reaches the terminal. */
  async notify(notice: ReleaseNotice): Promise<void> {
    this.stream.write(`${printable(plainText(notice))}\n`);
  }
}

export interface SlackMessage {
  text: string;
  blocks: Array<Record<string, unknown>>;
}

/**
 * The Block Kit message for a notice: header, the facts as fields, the reason for failures, a
 * plain fallback. Commit titles, authors, refs and reasons come from pushes, and app and
 * environment names from users: every one is data, so Slack's control characters `& < >` are
 * escaped in every field, the header and the fallback `text` alike (a `<!channel>` or
 * `<https://evil|https://gitlab…>` in a commit message arrives as text, never as a mention or a
 * link). The only links are the ones made here (`<url|label>`, the label escaped); the mrkdwn
 * fields are `verbatim`, so Slack does not turn bare names or URLs in them into mentions or links.
 */
export function slackMessage(notice: ReleaseNotice): SlackMessage {
  const fields = [
    field('App', mrkdwn(notice.app)),
    field('Environment', mrkdwn(notice.environment)),
    field('Commit', `${commitLink(notice)} ${mrkdwn(clip(notice.title, 300))}`.trim()),
    field('Author', mrkdwn(notice.author || 'unknown')),
    field('Ref', mrkdwn(shortRef(notice.ref))),
    ...(notice.buildSeconds !== undefined ? [field('Build time', formatDuration(notice.buildSeconds))] : []),
    ...(notice.rolloutSeconds !== undefined ? [field('Rollout time', formatDuration(notice.rolloutSeconds))] : []),
  ];
  const blocks: Array<Record<string, unknown>> = [
    { type: 'header', text: { type: 'plain_text', text: clip(mrkdwn(headline(notice)), 150), emoji: true } },
    { type: 'section', fields },
  ];
  if (notice.kind !== 'live') {
    const reason = notice.reason?.trim() || 'no reason given';
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*${notice.kind === 'awaiting_approval' ? 'Who may approve' : 'Reason'}*\n\`\`\`${mrkdwn(clip(reason, 2500)).replace(/```/g, "'''")}\`\`\``,
        verbatim: true,
      },
    });
  }
  return { text: mrkdwn(plainText(notice)), blocks };
}

function headline(notice: ReleaseNotice): string {
  const emoji = EMOJI[notice.kind];
  switch (notice.kind) {
    case 'live':
      return notice.rollbackOf
        ? `${emoji} ${notice.app} is live on ${notice.environment} again (rollback to release ${notice.rollbackOf})`
        : `${emoji} ${notice.app} is live on ${notice.environment}`;
    case 'build_failed':
      return `${emoji} ${notice.app}: build failed`;
    case 'rollout_failed':
      return `${emoji} ${notice.app}: rollout failed on ${notice.environment}`;
    case 'rolled_back':
      return `${emoji} ${notice.app}: rolled back on ${notice.environment}`;
    case 'awaiting_approval':
      return `${emoji} ${notice.app}: release ${notice.release ?? ''} waits for approval to ${notice.environment}`;
    case 'rejected':
      return `${emoji} ${notice.app}: release ${notice.release ?? ''} to ${notice.environment} rejected`;
    case 'expired':
      return `${emoji} ${notice.app}: release ${notice.release ?? ''} to ${notice.environment} expired unapproved`;
  }
}

/** One line: the headline, the commit, who, timings, and why (for failures). */
function plainText(notice: ReleaseNotice): string {
  const timings = [
    notice.buildSeconds !== undefined ? `build ${formatDuration(notice.buildSeconds)}` : undefined,
    notice.rolloutSeconds !== undefined ? `rollout ${formatDuration(notice.rolloutSeconds)}` : undefined,
  ].filter(Boolean);
  const parts = [
    `${headline(notice)}: ${shortSha(notice.commit)} ${clip(oneLine(notice.title), 120)}`.trim(),
    `by ${notice.author || 'unknown'} on ${shortRef(notice.ref)}`,
    ...(timings.length > 0 ? [`(${timings.join(', ')})`] : []),
  ];
  const reason = notice.kind !== 'live' && notice.reason ? ` — ${clip(oneLine(notice.reason), 300)}` : '';
  return `${parts.join(' ')}${reason}`;
}

/** `value` is mrkdwn already escaped by the caller. */
function field(label: string, value: string): { type: 'mrkdwn'; text: string; verbatim: true } {
  return { type: 'mrkdwn', text: clip(`*${label}*\n${value}`, 2000), verbatim: true };
}

function commitLink(notice: ReleaseNotice): string {
  const short = mrkdwn(shortSha(notice.commit));
  if (!notice.url) return `\`${short}\``;
  try {
    const url = new URL(notice.url);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return `\`${short}\``;
    // Slack's link syntax ends at `|` and `>`: those must not come from the URL.
    const safe = url.toString().replace(/\|/g, '%7C').replace(/>/g, '%3E').replace(/</g, '%3C');
    return `<${safe}|${short}>`;
  } catch {
    return `\`${short}\``;
  }
}

function shortSha(commit: string): string {
  return /^[0-9a-f]{8,}$/i.test(commit) ? commit.slice(0, 8) : commit;
}

function shortRef(ref: string): string {
  return ref.replace(/^refs\/(heads|tags)\//, '');
}

/** `42s`, `3m 05s`, `1h 02m`. */
export function formatDuration(seconds: number): string {
  const total = Math.max(0, Math.round(seconds));
  if (total < 60) return `${total}s`;
  const minutes = Math.floor(total / 60);
  if (minutes < 60) return `${minutes}m ${String(total % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** Slack's control characters, escaped as Slack asks (`&amp;`, `&lt;`, `&gt;`): text stays text. */
function mrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

async function shortBody(response: Response): Promise<string> {
  try {
    return oneLine((await response.text()).slice(0, 200));
  } catch {
    return '';
  }
}

/** `Retry-After` in seconds or as an HTTP date; undefined when absent or unreadable. */
function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function isTimeout(error: unknown): boolean {
  return isErrorLike(error) && (error.name === 'TimeoutError' || error.name === 'AbortError');
}

/** The socket-level reason of a fetch failure (`ECONNREFUSED`, …), else the error's message. */
function messageOf(error: unknown): string {
  if (!isErrorLike(error)) return String(error);
  let cause: unknown = error.cause;
  while (isErrorLike(cause) && isErrorLike(cause.cause)) cause = cause.cause;
  if (isErrorLike(cause)) {
    const code = (cause as Error & { code?: string }).code;
    return code ? `${code}` : cause.message || error.message;
  }
  return error.message;
}

/** Duck-typed: fetch's errors may come from another realm (a test sandbox), where instanceof fails. */
function isErrorLike(value: unknown): value is Error {
  return typeof value === 'object' && value !== null && typeof (value as Error).message === 'string';
}

/** The URL, or its secret path, never leaves this module. */
function redact(text: string, url: string): string {
  let out = text.split(url).join('[webhook]');
  try {
    const { pathname } = new URL(url);
    if (pathname.length > 1) out = out.split(pathname).join('[webhook]');
  } catch {
    // Not a URL: nothing more to hide.
  }
  return out;
}
