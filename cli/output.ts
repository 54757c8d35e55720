import { printable } from '../functions/domain/text';

export { printable };

/*
 * Text the CLI prints came partly from GitLab payloads (commit messages, authors, refs) and
 * build logs, which anyone who can push writes; none of its control characters reaches the
 * terminal as such:
 *   - human output (tables, fields, messages, errors, logs): through `printable`
 *     (functions/domain/text.ts): escape sequences removed whole, other C0/C1 characters
 *     dropped, line breaks and tabs in a value made a space (build logs keep `\n` and `\t`);
 *   - `--json`: nothing is lost. JSON.stringify already writes C0 characters as `\u00XX`;
 *     DEL and C1 (U+007F–U+009F), which it leaves raw and some terminals obey (U+009B is CSI),
 *     are written as `\u00XX` too. Parsed, the JSON holds exactly what the API answered.
 */

const RAW_IN_JSON = /[\u007f-\u009f]/g;

/** JSON with DEL and C1 characters escaped too (`\u009b`), so it is safe on a terminal and lossless. */
export function jsonText(value: unknown, indent?: number): string {
  return (JSON.stringify(value, null, indent) ?? 'null').replace(
    RAW_IN_JSON,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Prints a result: JSON with --json, else a readable table or key/value list. */
export function printJson(value: unknown): void {
  process.stdout.write(`${jsonText(value, 2)}\n`);
}

/** Prints a line of human output (a message that may quote names, refs or reasons), made printable. */
export function printLine(text: string): void {
  process.stdout.write(`${printable(text)}\n`);
}

export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cell = (v: unknown) => (v === undefined || v === null ? '' : printable(String(v)));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${line(columns.map((c) => c.toUpperCase()))}\n`);
  for (const row of rows) process.stdout.write(`${line(columns.map((c) => cell(row[c])))}\n`);
}

export function printFields(value: Record<string, unknown>): void {
  const width = Math.max(...Object.keys(value).map((k) => k.length));
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const shown = typeof v === 'object' ? JSON.stringify(v) : String(v);
    process.stdout.write(`${printable(key).padEnd(width)}  ${printable(shown)}\n`);
  }
}
