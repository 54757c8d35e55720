import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import fc from 'fast-check';
import { newApp } from '../../functions/domain/apps';
import { ValidationError } from '../../functions/domain/errors';
import type { PushEvent } from '../../functions/domain/events';
import {
  isValidRefPattern,
  MAX_PATTERN_WILDCARDS,
  matchesPattern,
  refPatternProblem,
} from '../../functions/domain/filters';
import { whyIgnored } from '../../functions/domain/ingest';
import type { App } from '../../functions/domain/model';
import { type AdminDeps, createAdminHandler } from '../../functions/http/admin-api';
import type { HttpEvent } from '../../functions/http/responses';

/**
 * Branch and tag filters (issue 13, point 5; PRODUCT.md "Security": filters are linear):
 * the wildcard match is a two-pointer scan, not a backtracking RegExp, and patterns are
 * bounded where an app is created.
 */

/** The obvious definition, exponential in the worst case: only for small inputs. */
function reference(pattern: string, name: string): boolean {
  if (pattern === '') return name === '';
  if (pattern[0] === '*') {
    for (let i = 0; i <= name.length; i++) if (reference(pattern.slice(1), name.slice(i))) return true;
    return false;
  }
  return name !== '' && pattern[0] === name[0] && reference(pattern.slice(1), name.slice(1));
}

/** Milliseconds `fn` takes. */
function timed(fn: () => unknown): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

const PATHOLOGICAL = '*-*-*-*-rc';

describe('matchesPattern', () => {
  it('agrees with the plain definition of `*` on small inputs (every character alike, line breaks too)', () => {
    // A small alphabet makes matches and near-misses likely; `.`, `?`, `[`, `\n` must not be special.
    const char = fc.constantFrom('a', 'b', '-', '/', '.', '?', '[', '\n', '\u0085', '*');
    const text = fc.array(char, { maxLength: 9 }).map((cs) => cs.join(''));
    fc.assert(
      fc.property(text, text, (pattern, rawName) => {
        const name = rawName.replaceAll('*', 'x');
        expect(matchesPattern(pattern, name)).toBe(reference(pattern, name));
      }),
      { numRuns: 20_000, seed: 13 },
    );
  });

  it('answers a pathological pattern against a 1,000- and a 100,000-character ref within milliseconds', () => {
    // With the old RegExp (`^.*-.*-.*-.*-rc$`) the first took ~45 s; the bound is a regression
    // guard, not a benchmark.
    for (const length of [1_000, 100_000]) {
      const dashes = '-'.repeat(length);
      const slashes = 'a/'.repeat(length / 2);
      expect(timed(() => expect(matchesPattern(PATHOLOGICAL, dashes)).toBe(false))).toBeLessThan(200);
      expect(
        timed(() => expect(matchesPattern('*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b', 'a'.repeat(length))).toBe(false)),
      ).toBeLessThan(200);
      expect(timed(() => expect(matchesPattern('*/*/*/*/x', slashes)).toBe(false))).toBeLessThan(200);
      expect(matchesPattern(PATHOLOGICAL, `${dashes}rc`)).toBe(true);
    }
  });

  it('keeps the filter of a delivery fast: a 1,000-character ref against a stored pathological filter', () => {
    // The webhook's path: whyIgnored() runs inside the request, so a slow match would hold the
    // whole local mode (every request, /v1/health too) or a Lambda to its timeout.
    const app = {
      ...newApp({ name: 'web', project: 'group/web' }),
      branch: PATHOLOGICAL,
      tags: '*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*z',
    } satisfies App;
    const push = (kind: 'branch' | 'tag', name: string): PushEvent => ({
      kind,
      ref: `refs/${kind === 'tag' ? 'tags' : 'heads'}/${name}`,
      before: 'a'.repeat(40),
      after: 'b'.repeat(40),
      sha: 'b'.repeat(40),
      project: { path: 'group/web' },
    });
    let reason: string | undefined;
    expect(timed(() => (reason = whyIgnored(app, push('branch', '-'.repeat(1_000)))))).toBeLessThan(200);
    expect(reason).toMatch(/does not match/);
    expect(timed(() => (reason = whyIgnored(app, push('tag', '.'.repeat(1_000)))))).toBeLessThan(200);
    expect(reason).toMatch(/does not match/);
  });
});

describe('pattern validation at apps create', () => {
  it('refuses more than 16 wildcards, over 255 characters, and what is no ref name, saying why', () => {
    const many = `${'*-'.repeat(MAX_PATTERN_WILDCARDS)}*`;
    expect(refPatternProblem('*-'.repeat(MAX_PATTERN_WILDCARDS))).toBeUndefined();
    expect(refPatternProblem(many)).toMatch(/more than 16 "\*" wildcards/);
    expect(refPatternProblem('a'.repeat(256))).toMatch(/longer than 255 characters/);
    expect(refPatternProblem('main\nx')).toMatch(/not a git ref name/);
    expect(isValidRefPattern('release/*')).toBe(true);

    expect(() => newApp({ name: 'web', project: 'group/web', branch: many })).toThrow(
      new ValidationError(`invalid branch filter "${many}": it has more than 16 "*" wildcards`),
    );
    expect(() => newApp({ name: 'web', project: 'group/web', tags: 'v\u001b[2J*' })).toThrow(
      /^invalid tag pattern "v\\u001b\[2J\*": it is not a git ref name/,
    );
    expect(newApp({ name: 'web', project: 'group/web', branch: PATHOLOGICAL, tags: 'v*' })).toMatchObject({
      branch: PATHOLOGICAL,
      tags: 'v*',
    });
  });

  it('answers POST /v1/apps with such a pattern 400, with the reason', async () => {
    const handler = createAdminHandler({
      store: {},
      logger: new Logger({ serviceName: 'filters-test', logLevel: 'SILENT' }),
    } as unknown as AdminDeps);
    const post = async (body: unknown) => {
      const event = {
        version: '2.0',
        routeKey: '$default',
        rawPath: '/v1/apps',
        rawQueryString: '',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        requestContext: {
          accountId: '000000000000',
          apiId: 'test',
          domainName: 'slipway.test',
          domainPrefix: 'slipway',
          http: { method: 'POST', path: '/v1/apps', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'jest' },
          requestId: 'r',
          routeKey: '$default',
          stage: '$default',
          time: new Date().toUTCString(),
          timeEpoch: Date.now(),
        },
        isBase64Encoded: false,
      } as HttpEvent;
      const result = await handler(event, { awsRequestId: 'r', getRemainingTimeInMillis: () => 10_000 } as Context);
      return { status: result.statusCode, body: JSON.parse(result.body) as { error: string } };
    };

    await expect(post({ name: 'web', project: 'group/web', tags: '*'.repeat(17) })).resolves.toEqual({
      status: 400,
      body: { error: `invalid tag pattern "${'*'.repeat(17)}": it has more than 16 "*" wildcards` },
    });
  });
});
