import fc from 'fast-check';
import { jsonText } from '../../cli/output';
import { hasControlCharacters, printable } from '../../functions/domain/text';

/**
 * Text from payloads and build logs made safe for a terminal (issue 13, point 7): the one
 * helper the CLI (and local mode's console notices) print through.
 */

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const ANY_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL_BUT_LF_TAB = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding them is the point
const CONTROL_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/;

describe('printable', () => {
  it('removes escape sequences whole and every other C0/C1 character', () => {
    expect(printable('\u001b[31mred\u001b[0m')).toBe('red');
    expect(printable('\u001b]8;;https://evil\u0007click\u001b]8;;\u001b\\ here')).toBe('click here');
    expect(printable('\u001b]0;window title\u0007text')).toBe('text');
    expect(printable('\u009b2J\u009d0;t\u009cok\u0007\u0000\u007f\u0085')).toBe('ok');
    expect(printable('a\u001bcb')).toBe('acb');
    expect(printable('unterminated \u001b]0;title')).toBe('unterminated 0;title');
  });

  it('makes one line of a value (line breaks and tabs become a space), or keeps \\n and \\t in logs', () => {
    expect(printable('first\nsecond\r\n\tthird')).toBe('first second third');
    expect(printable('a\tb\r\nc\rd\u001b[2Ke', { multiline: true })).toBe('a\tb\ncde');
  });

  it('never leaves a control character, on any input, and leaves other text alone', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        expect(printable(text)).not.toMatch(ANY_CONTROL);
        expect(printable(text, { multiline: true })).not.toMatch(CONTROL_BUT_LF_TAB);
        if (!hasControlCharacters(text)) expect(printable(text)).toBe(text);
      }),
      { numRuns: 5_000, seed: 7 },
    );
  });

  it('is linear: a long line of escape starts is cleaned at once', () => {
    const started = performance.now();
    printable(`${'\u001b]'.repeat(50_000)}${'\u001b['.repeat(50_000)}${'\u009b0'.repeat(50_000)}`);
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('jsonText (--json)', () => {
  it('is lossless and leaves no raw control character: C0 by JSON, DEL and C1 as \\u00XX', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.string({ unit: 'binary', maxLength: 40 }), (value, text) => {
        const out = jsonText({ value, text }, 2);
        expect(out).not.toMatch(CONTROL_BUT_LF);
        expect(JSON.parse(out)).toEqual(JSON.parse(JSON.stringify({ value, text })));
      }),
      { numRuns: 2_000, seed: 7 },
    );
    expect(jsonText({ m: 'a\u009bb\u007f' })).toBe('{"m":"a\\u009bb\\u007f"}');
  });
});
