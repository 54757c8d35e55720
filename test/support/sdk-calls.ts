import * as acorn from 'acorn';
import * as walk from 'acorn-walk';
import { build } from 'esbuild';
import { esbuildOptions } from '../../infra/bundling';

/**
 * Which AWS SDK calls a Lambda bundle can make, read from the bundle itself: the handler is bundled
 * the way it is deployed (tree-shaken, AWS SDK external) but not minified, parsed, and every
 * `new XCommand(…)` of an `@aws-sdk/*` import is attributed to the class method (or top-level code)
 * it sits in. A class method counts only when something reachable refers to it by name (`.name`):
 * project code for a public method, the same class's reachable methods for `this.name`. So the
 * store's `deleteApp` (BatchWriteItem) counts in the admin API's bundle and not in a hook's, although
 * the whole store class is in both. Names are matched, not types: when in doubt, a method counts.
 */

/** One SDK command the bundle constructs in reachable code. */
export interface SdkCall {
  /** `@aws-sdk/lib-dynamodb`, `@aws-sdk/client-sfn`… */
  readonly pkg: string;
  /** The command class, `GetCommand`, `StartExecutionCommand`… */
  readonly command: string;
  /** Where: `Class#method` or `(top level)`. */
  readonly where: string;
}

export interface BundleSdkUse {
  readonly calls: readonly SdkCall[];
  /** Transaction items (`Put`, `Update`, `Delete`, `ConditionCheck` with a `TableName`) built in reachable code. */
  readonly transactItems: ReadonlySet<string>;
  /** Whether reachable code queries a secondary index (`IndexName`). */
  readonly queriesIndex: boolean;
}

const TOP = '(top level)';
const TRANSACT_ITEM_KINDS = new Set(['Put', 'Update', 'Delete', 'ConditionCheck']);

// biome-ignore lint/suspicious/noExplicitAny: ESTree nodes from acorn are walked generically
type Node = any;

interface Ref {
  name: string;
  viaThis: boolean;
  unit: string;
  cls: string | undefined;
  project: boolean;
}

/** Bundles `entry` as deployed, minus minification, and reads the SDK calls it can make. */
export async function sdkUseOf(entry: string): Promise<BundleSdkUse> {
  const result = await build({
    ...esbuildOptions(false),
    entryPoints: [entry],
    write: false,
    minify: false,
    sourcemap: false,
    outdir: '/tmp/sdk-calls',
    logLevel: 'error',
  });
  const output = result.outputFiles.find((file) => file.path.endsWith('.mjs'));
  if (!output) throw new Error(`${entry}: esbuild wrote no bundle`);
  return analyseBundle(output.text);
}

/** The analysis of {@link sdkUseOf}, on an unminified ESM bundle's text (exported for its own tests). */
export function analyseBundle(text: string): BundleSdkUse {
  // esbuild starts each module's code with a `// path/of/module.ts` comment when not minifying.
  const markers: Array<{ at: number; module: string }> = [];
  const ast = acorn.parse(text, {
    ecmaVersion: 'latest',
    sourceType: 'module',
    allowHashBang: true,
    onComment: (block, value, start) => {
      const match = /^ (\S+\.(?:[cm]?[jt]s|json))$/.exec(value);
      if (!block && match?.[1]) markers.push({ at: start, module: match[1] });
    },
  }) as Node;
  const moduleAt = (at: number): string => {
    let found = '';
    for (const marker of markers) {
      if (marker.at > at) break;
      found = marker.module;
    }
    return found;
  };
  const isProject = (at: number): boolean => !moduleAt(at).includes('node_modules/');

  // Imports of SDK command classes: local name → imported name and package.
  const sdkImports = new Map<string, { pkg: string; command: string }>();
  // Top-level classes defined by libraries: chains rooted in `new LibraryClass(…)` call the library.
  const libraryClasses = new Set<string>();
  for (const statement of ast.body) {
    if (statement.type === 'ImportDeclaration' && String(statement.source.value).startsWith('@aws-sdk/')) {
      for (const spec of statement.specifiers) {
        if (spec.type !== 'ImportSpecifier') continue;
        const imported = spec.imported.name ?? spec.imported.value;
        if (/Command$/.test(imported))
          sdkImports.set(spec.local.name, { pkg: statement.source.value, command: imported });
      }
    }
    if (!isProject(statement.start)) {
      if (statement.type === 'ClassDeclaration' && statement.id) libraryClasses.add(statement.id.name);
      if (statement.type === 'VariableDeclaration') {
        for (const d of statement.declarations) {
          if (d.id.type === 'Identifier' && d.init?.type === 'ClassExpression') libraryClasses.add(d.id.name);
        }
      }
    }
  }

  const className = (classNode: Node, ancestors: Node[], index: number): string => {
    if (classNode.id?.name) return classNode.id.name;
    const parent = ancestors[index - 1];
    if (parent?.type === 'VariableDeclarator' && parent.id.type === 'Identifier') return parent.id.name;
    return `class@${classNode.start}`;
  };
  /** The class member a node sits in (`Class#name`), or the top level. */
  const unitOf = (ancestors: Node[]): { unit: string; cls: string | undefined } => {
    for (let i = ancestors.length - 1; i >= 0; i--) {
      const node = ancestors[i];
      if ((node.type === 'MethodDefinition' || node.type === 'PropertyDefinition') && !node.computed) {
        const classBody = ancestors[i - 1];
        const classNode = ancestors[i - 2];
        if (classBody?.type !== 'ClassBody' || !classNode) continue;
        const cls = className(classNode, ancestors, i - 2);
        return { unit: `${cls}#${memberName(node.key)}`, cls };
      }
    }
    return { unit: TOP, cls: undefined };
  };
  const rootOf = (node: Node): Node => {
    let current = node;
    while (current.type === 'MemberExpression' || current.type === 'CallExpression') {
      current = current.type === 'MemberExpression' ? current.object : current.callee;
    }
    return current;
  };

  const refs: Ref[] = [];
  const commands: Array<SdkCall & { unit: string }> = [];
  const items: Array<{ kind: string; unit: string }> = [];
  const indexQueries: string[] = [];
  const units = new Map<string, string>(); // unit → class

  walk.ancestor(ast, {
    MethodDefinition(_node: Node, _state: unknown, ancestors: Node[]) {
      const { unit, cls } = unitOf(ancestors);
      if (cls) units.set(unit, cls);
    },
    PropertyDefinition(_node: Node, _state: unknown, ancestors: Node[]) {
      const { unit, cls } = unitOf(ancestors);
      if (cls) units.set(unit, cls);
    },
    MemberExpression(node: Node, _state: unknown, ancestors: Node[]) {
      if (node.computed) return;
      const root = rootOf(node.object);
      // `new LibraryClass(…).chain().method()` calls the library, not one of ours.
      if (root.type === 'NewExpression' && root.callee.type === 'Identifier' && libraryClasses.has(root.callee.name)) {
        return;
      }
      const { unit, cls } = unitOf(ancestors);
      refs.push({
        name: memberName(node.property),
        viaThis: node.object.type === 'ThisExpression',
        unit,
        cls,
        project: isProject(node.start),
      });
    },
    NewExpression(node: Node, _state: unknown, ancestors: Node[]) {
      if (node.callee.type !== 'Identifier') return;
      const sdk = sdkImports.get(node.callee.name);
      if (!sdk) return;
      const { unit } = unitOf(ancestors);
      commands.push({ ...sdk, where: unit, unit });
    },
    Property(node: Node, _state: unknown, ancestors: Node[]) {
      const key = node.key.type === 'Identifier' ? node.key.name : node.key.value;
      if (key === 'IndexName' && isProject(node.start)) indexQueries.push(unitOf(ancestors).unit);
      if (!TRANSACT_ITEM_KINDS.has(key) || node.value.type !== 'ObjectExpression') return;
      const hasTable = node.value.properties.some(
        (p: Node) => p.type === 'Property' && (p.key.name ?? p.key.value) === 'TableName',
      );
      if (hasTable) items.push({ kind: key, unit: unitOf(ancestors).unit });
    },
  });

  // Reachability, to a fixed point: the top level is reachable; a class member is when a reachable
  // unit refers to it by name (`this.name` only from its own class, `x.name` only from project code).
  // Constructors run on `new`, which names the class, not the member: they count.
  const reachable = new Set<string>([TOP, ...[...units.keys()].filter((unit) => unit.endsWith('#constructor'))]);
  for (let changed = true; changed; ) {
    changed = false;
    for (const [unit, cls] of units) {
      if (reachable.has(unit)) continue;
      const name = unit.slice(cls.length + 1);
      const used = refs.some(
        (r) => r.name === name && reachable.has(r.unit) && (r.viaThis ? r.cls === cls : r.project),
      );
      if (used) {
        reachable.add(unit);
        changed = true;
      }
    }
  }

  return {
    calls: commands.filter((c) => reachable.has(c.unit)).map(({ pkg, command, where }) => ({ pkg, command, where })),
    transactItems: new Set(items.filter((i) => reachable.has(i.unit)).map((i) => i.kind)),
    queriesIndex: indexQueries.some((unit) => reachable.has(unit)),
  };
}

function memberName(key: Node): string {
  if (key.type === 'PrivateIdentifier') return `#${key.name}`;
  if (key.type === 'Identifier') return key.name;
  return String(key.value);
}
