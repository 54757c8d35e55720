import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');

/** What a module imports or re-exports from (`import type` included), as written. */
function specifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+'([^']+)'|^\s*import\s+'([^']+)'/gm)].map(
    (match) => match[1] ?? match[2] ?? '',
  );
}

/** Every .ts file under `folder`, subfolders included, as absolute paths. */
function tsFiles(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => join(ROOT, folder, file));
}

/** A relative import as the file it names: `x.ts`, or `x/index.ts` for a folder. */
function resolveImport(from: string, spec: string): string {
  const target = resolve(dirname(from), spec);
  return relative(ROOT, existsSync(`${target}.ts`) ? `${target}.ts` : join(target, 'index.ts'));
}

/** The relative imports (type-only and re-exports included) of every .ts file in `folder`, as repo paths. */
function importGraph(folder: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(folder)) {
    graph.set(
      relative(ROOT, file),
      specifiers(file)
        .filter((spec) => spec.startsWith('.'))
        .map((spec) => resolveImport(file, spec)),
    );
  }
  return graph;
}

/** Every import cycle, each as the path that closes it (`a → b → a`). */
function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const done = new Set<string>();
  const visit = (file: string, path: string[]): void => {
    const at = path.indexOf(file);
    if (at >= 0) {
      found.push([...path.slice(at), file].join(' → '));
      return;
    }
    if (done.has(file)) return;
    for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
    done.add(file);
  };
  for (const file of graph.keys()) visit(file, []);
  return found;
}

describe('module boundaries', () => {
  it('reads type-only imports and re-exports as imports', () => {
    expect(specifiers(join(ROOT, 'functions/domain/ports/store.ts'))).toContain('../model');
    expect(specifiers(join(ROOT, 'functions/domain/ports/index.ts'))).toContain('./store');
    expect(importGraph('functions/domain').get('functions/domain/releases.ts')).toContain(
      'functions/domain/ports/index.ts',
    );
  });

  it('finds a cycle when there is one (the check itself works)', () => {
    const graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(cycles(graph)).toEqual(['a.ts → b.ts → c.ts → a.ts']);
  });

  it('has no import cycle inside functions/domain, type-only imports included', () => {
    expect(cycles(importGraph('functions/domain'))).toEqual([]);
  });

  it('keeps functions/domain to itself: no adapter, handler, HTTP or AWS import', () => {
    const outside: string[] = [];
    const domain = join(ROOT, 'functions/domain');
    for (const file of tsFiles('functions/domain')) {
      for (const spec of specifiers(file)) {
        const target = spec.startsWith('.') ? resolve(dirname(file), spec) : '';
        if ((target && !target.startsWith(`${domain}/`)) || spec.startsWith('@aws-sdk/')) {
          outside.push(`${relative(ROOT, file)} imports ${spec}`);
        }
      }
    }
    expect(outside).toEqual([]);
  });

  it('leaves AWS error names to the adapters: the domain knows TransientError, not ThrottlingException', () => {
    const aws = /\$metadata|\$retryable|'[A-Za-z]*(Exception|Throttling|InternalFailure|ServiceUnavailable)'/;
    const found: string[] = [];
    for (const file of tsFiles('functions/domain')) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (aws.test(line)) found.push(`${relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });

  it('keeps functions/commons to leaf helpers: nothing of ours but its own files', () => {
    const graph = importGraph('functions/commons');
    const reaching = [...graph].flatMap(([file, imports]) =>
      imports.filter((target) => !target.startsWith('functions/commons/')).map((target) => `${file} → ${target}`),
    );
    expect(reaching).toEqual([]);
  });
});
