import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../../', import.meta.url));

// The images run the compiled dist/, not the sources through tsx: everything the code reads at run
// time (protos, the intent schema, CRDs, the version) must be found from there too.
test('the compiled build runs on its own: CLI, bundled schema, CRDs and protos', async (t) => {
  // Inside the repository so the compiled code resolves node_modules as in an image.
  const out = join(root, 'node_modules', '.cache', `tutti-build-test-${process.pid}`);
  t.after(() => rm(out, { recursive: true, force: true }));
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await run(
    process.execPath,
    [tsc, '-p', 'tsconfig.build.json', '--outDir', out, '--declaration', 'false', '--sourceMap', 'false'],
    { cwd: root },
  );
  await run(process.execPath, ['--import', 'tsx', 'scripts/copy-assets.ts', out], { cwd: root });

  const main = join(out, 'src', 'cli', 'main.js');
  const { stdout } = await run(process.execPath, [main, 'conductor', 'crds']);
  assert.equal(
    stdout,
    await readFile(join(root, 'config/crd/intent.nephoran.com_networkintents.yaml'), 'utf8'),
  );
  const { version } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
  assert.match((await run(process.execPath, [main, '--version'])).stdout, new RegExp(`^tutti ${version} `));

  const loaders = [];
  for (const e of await readdir(join(out, 'src'), { recursive: true, withFileTypes: true })) {
    if (!e.isFile() || !e.name.endsWith('.js')) continue;
    const file = join(e.parentPath, e.name);
    if (file === main) continue; // runs the CLI when imported; run as a command above
    if (/\.(proto|json)'|config\/crd/.test(await readFile(file, 'utf8'))) loaders.push(file);
  }
  assert.ok(loaders.length >= 3, `modules that load assets: ${loaders.join(', ')}`);
  const script = `for (const f of ${JSON.stringify(loaders)}) await import(f);
const { BUNDLED_SCHEMA } = await import(${JSON.stringify(join(out, 'src/conductor/schema.js'))});
const { CRD_DIR } = await import(${JSON.stringify(join(out, 'src/runtime/crds.js'))});
const { readFileSync, readdirSync } = await import('node:fs');
JSON.parse(readFileSync(BUNDLED_SCHEMA, 'utf8'));
if (!readdirSync(CRD_DIR).length) throw new Error('no CRDs in ' + CRD_DIR);`;
  await run(process.execPath, ['--input-type=module', '-e', script], { cwd: root });
});
