import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) out.push(relative(root, join(entry.parentPath, entry.name)));
  }
  return out;
}

async function imports(file: string): Promise<string[]> {
  const text = await readFile(join(root, file), 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm), ...text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1]!);
}

/** Files of `dir` in import circles (type imports count: a circle of types is a circle of concepts). */
async function circles(dir: string): Promise<string[][]> {
  const files = await sources(dir);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const local = (await imports(file)).filter((s) => s.startsWith('.')).map((s) => relative(root, join(root, file, '..', s)));
    graph.set(
      file,
      local.filter((f) => files.includes(f)),
    );
  }
  // Tarjan's strongly connected components: each with more than one file is a circle.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of graph.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return out;
}

describe('layout', () => {
  it('kernel/ has no import circle', async () => {
    expect(await circles('kernel')).toEqual([]);
  });

  it('kernel/ is in rooms: at its top only the host, its parts and what every room uses', async () => {
    const top = (await sources('kernel'))
      .filter((f) => f.split('/').length === 2)
      .map((f) => f.slice('kernel/'.length))
      .sort();
    expect(top).toEqual(['backoff.ts', 'clock.ts', 'errors.ts', 'host-parts.ts', 'host.ts', 'ids.ts', 'index.ts', 'limits.ts', 'observe.ts', 'ruleset.ts', 'validate.ts']);
    expect((await readFile(join(root, 'kernel/host.ts'), 'utf8')).split('\n').length).toBeLessThanOrEqual(300);
  });

  it('kernel/ imports nothing from rulesets/ or channels/', async () => {
    const offenders: string[] = [];
    for (const file of await sources('kernel')) {
      for (const spec of await imports(file)) if (/(^|\/)(rulesets|channels)\//.test(spec)) offenders.push(`${file} → ${spec}`);
    }
    expect(offenders).toEqual([]);
  });

  it('rulesets/ never imports channels/', async () => {
    const offenders: string[] = [];
    for (const file of await sources('rulesets')) {
      for (const spec of await imports(file)) if (/(^|\/)channels\//.test(spec)) offenders.push(`${file} → ${spec}`);
    }
    expect(offenders).toEqual([]);
  });

  it('client/ (kumo/client, for browsers too) imports only itself, and ws lazily where there is no WebSocket', async () => {
    const found: string[] = [];
    for (const file of await sources('client')) {
      const text = await readFile(join(root, file), 'utf8');
      for (const m of text.matchAll(/^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]/gm)) if (!m[1]!.startsWith('./')) found.push(`${file} → ${m[1]}`);
      for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(`${file} → import(${m[1]})`);
    }
    expect(found).toEqual(['client/ws-transport.ts → import(ws)']);
  });

  it('each runtime npm dependency is imported by one file', async () => {
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const owners = new Map<string, Set<string>>();
    for (const dir of ['kernel', 'rulesets', 'channels']) {
      for (const file of await sources(dir)) {
        for (const spec of await imports(file)) {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          if (name in pkg.dependencies) owners.set(name, (owners.get(name) ?? new Set()).add(file));
        }
      }
    }
    const shared = [...owners].filter(([, files]) => files.size > 1).map(([name, files]) => `${name}: ${[...files].join(', ')}`);
    expect(shared).toEqual([]);
    expect(owners.get('level')).toEqual(new Set(['kernel/store/store.ts']));
    expect(owners.get('msgpackr')).toEqual(new Set(['kernel/store/codec.ts']));
  });
});

describe("the reference docs are the code's", () => {
  it('docs/errors.md has a row for every error code, with its status, and none for a code there is not', async () => {
    const { ERROR_CODES } = await import('../kernel/index.ts');
    const text = await readFile(join(root, 'docs/errors.md'), 'utf8');
    const rows = new Map([...text.matchAll(/^\| `([A-Z_]+)` \| (\d+) \|/gm)].map((m) => [m[1]!, Number(m[2])]));
    rows.delete('INTERNAL'); // not a code of the catalog: any bug
    expect(Object.fromEntries(rows)).toEqual({ ...ERROR_CODES });
  });

  it('docs/cli.md shows every command as its usage line', async () => {
    const { COMMANDS } = await import('../channels/cli/commands/index.ts');
    const { usageLine } = await import('../channels/cli/usage.ts');
    const text = await readFile(join(root, 'docs/cli.md'), 'utf8');
    expect(COMMANDS.map((c) => usageLine(c).split('\n')[0]!).filter((line) => !text.includes(line))).toEqual([]);
  });

  it('docs/http-api.md lists every route of the table', async () => {
    const { ROUTES } = await import('../channels/http/routes.ts');
    const text = await readFile(join(root, 'docs/http-api.md'), 'utf8');
    expect(ROUTES.filter((r) => !text.includes(r.path)).map((r) => r.path)).toEqual([]);
  });
});
