/**
 * An ISO 8601 date-time with seconds and an explicit offset, as GitLab writes them:
 * `2011-12-12T14:27:31+02:00` (push payloads), `2012-09-20T09:06:12.000+03:00` (commits API),
 * `…Z` (UTC). Anything looser (a bare date, a missing offset, a typo) is not a timestamp here:
 * without an offset it would be read in the server's time zone.
 */
const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * A timestamp from GitLab as an ISO 8601 UTC string (`2011-12-12T12:27:31.000Z`), or undefined
 * when it is missing or not a valid date-time with an offset: such a value is simply not recorded.
 */
export function isoUtc(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 64 || !ISO_WITH_OFFSET.test(value)) return undefined;
  // Date.parse rolls 30 February over into March: a date that does not exist is not recorded.
  const [year, month, day] = value.slice(0, 10).split('-').map(Number) as [number, number, number];
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  // Date.parse reads `+0200` only with a colon on some engines: normalise the offset first.
  const normalised = value.replace(/([+-]\d{2})(\d{2})$/, '$1:$2');
  const ms = Date.parse(normalised);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}
