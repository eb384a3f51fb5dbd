import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers.ts';
import { post, repoRoot, rootEci, runKumo, startServerProcess, wrangler } from './server-harness.ts';

// Issue 9, item 9: a ruleset written anywhere on disk imports 'kumo' and is loaded by
// `kumo serve --rulesets ./that-folder`, with no package.json of its own.

const HELLO = `import { ruleset, z, InvalidArgsError } from 'kumo';

export default ruleset('hello.world', { version: '1.0.0' })
  .rule('hi', {
    select: 'hello:hi',
    attrs: z.object({ name: z.string().default('world') }),
    action(ctx) {
      if (ctx.attrs.name === 'nobody') throw new InvalidArgsError('say hello to somebody');
      ctx.directive('hello', { text: \`hello \${ctx.attrs.name}\` });
    },
  })
  .build();
`;

describe('rulesets outside the repository', () => {
  it('a folder anywhere, with hello.ts importing from kumo, is loaded by kumo serve --rulesets', async () => {
    const home = await tempDir();
    await writeFile(join(home, 'hello.ts'), HELLO);
    const server = await startServerProcess({ cwd: home, rulesetsDir: home });
    expect(server.stdout()).toContain(`kumo registered ruleset hello.world@1.0.0 from ${join(home, 'hello.ts')}`);
    const owner = await rootEci(server);
    await wrangler(server.url, owner, 'install_ruleset_request', { rid: 'hello.world' }, 'wrangler:ruleset_installed');
    const hi = await post(`${server.url}/sky/event/${owner}/hi-1/hello/hi`, { name: 'kumo' });
    expect(hi.body.directives).toMatchObject([{ name: 'hello', options: { text: 'hello kumo' } }]);
    // The ruleset's error class is the host's own (one copy of kumo): its code and status survive.
    const refused = await post(`${server.url}/sky/event/${owner}/hi-2/hello/hi`, { name: 'nobody' });
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ARGS', rid: 'hello.world', rule: 'hi' } } });
  });

  it('a broken ruleset file stops the start with an error naming the file and the cause', async () => {
    const home = await tempDir();
    const broken = join(home, 'broken.ts');
    await writeFile(broken, `import { ruleset } from 'kumo';\nexport default ruleset('x'.rule(;\n`);
    const syntax = await runKumo(['serve', '--port', '0', '--data', join(home, 'data'), '--rulesets', home], {}, home);
    expect(syntax.code).toBe(1);
    expect(syntax.stderr).toBe(`kumo: cannot load the ruleset file ${broken}: Unexpected ";" (line 2, column 33)\n`);
    await writeFile(broken, `import { nothing } from 'not-a-package';\nexport default nothing;\n`);
    const missing = await runKumo(['serve', '--port', '0', '--data', join(home, 'data'), '--rulesets', home], {}, home);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(new RegExp(`^kumo: cannot load the ruleset file ${broken}: Cannot find package 'not-a-package'`));
  });

  it('package.json exports the curated entry, with types where the declaration build puts them', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8')) as { exports: Record<string, unknown>; types: string; files: string[]; scripts: Record<string, string> };
    const build = JSON.parse(await readFile(join(repoRoot, 'tsconfig.build.json'), 'utf8')) as { include: string[] };
    const base = JSON.parse(await readFile(join(repoRoot, 'tsconfig.json'), 'utf8')) as { compilerOptions: { outDir: string } };
    expect(pkg.exports['.']).toEqual({ types: `./${base.compilerOptions.outDir}/index.d.ts`, default: './index.ts' });
    expect(pkg.types).toBe(`./${base.compilerOptions.outDir}/index.d.ts`);
    expect(build.include).toContain('index.ts');
    expect(pkg.scripts['prepack']).toContain('tsconfig.build.json');
    expect(pkg.files).toEqual(expect.arrayContaining(['index.ts', 'kernel', 'rulesets', 'channels', 'bin', `${base.compilerOptions.outDir}/**/*.d.ts`]));
    const entry = await import('../index.ts');
    for (const name of ['ruleset', 'z', 'on', 'openHost', 'KumoError', 'InvalidArgsError', 'ERROR_CODES']) expect(entry).toHaveProperty(name);
  });
});
