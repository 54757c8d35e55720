/*
 * Text that came from GitLab payloads (commit messages, authors, refs) or build logs is written
 * by anyone who can push. A terminal obeys control characters in it (ESC and C1 CSI sequences
 * move the cursor and rewrite lines or the window title, OSC 8 makes links, BEL rings), so what
 * Slipway prints for people goes through `printable` first. Refs and paths with control
 * characters are refused at the edge (`hasControlCharacters`).
 */

/** C0 (U+0000–U+001F), DEL and C1 (U+0080–U+009F). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * ANSI escape sequences, removed whole so no half of one is left to read: CSI (ESC [ or C1 CSI)
 * up to its final byte, OSC (ESC ] or C1 OSC) up to BEL or ST, and the other two-byte ESC ones.
 * Linear: each alternative consumes disjoint character classes, with no nested repetition.
 */
const ESCAPE_SEQUENCE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
  /\u001b\[[0-?]*[ -/]*[@-~]|\u009b[0-?]*[ -/]*[@-~]|(?:\u001b\]|\u009d)[^\u0007\u001b\u009c]*(?:\u0007|\u001b\\|\u009c)|\u001b[@-Z\\-_]/g;
const LINE_BREAKS = /[\t\n\v\f\r]+/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const ALL_CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const CONTROL_BUT_LF_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/** Whether the text holds a C0 or C1 control character (or DEL). */
export function hasControlCharacters(text: string): boolean {
  return CONTROL.test(text);
}

/**
 * Text safe to print on a terminal: escape sequences and every other C0/C1 control character
 * removed. One line by default (tabs and line breaks become a space); `multiline` keeps `\n` and
 * `\t` (build logs; `\r\n` becomes `\n`, a lone `\r` goes).
 */
export function printable(text: string, options: { multiline?: boolean } = {}): string {
  const plain = text.replace(ESCAPE_SEQUENCE, '');
  if (options.multiline) return plain.replace(/\r\n/g, '\n').replace(CONTROL_BUT_LF_TAB, '');
  return plain.replace(LINE_BREAKS, ' ').replace(ALL_CONTROL, '');
}
