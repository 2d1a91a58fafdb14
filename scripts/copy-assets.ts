/**
 * Copies what the compiled code reads at run time next to it in dist/: the .proto files the gRPC
 * services load, the bundled intent schema, the generated CRDs and the package's name and version
 * for `tutti --version` (all resolved relative to the module that reads them, so dist/ must mirror
 * the source tree).
 */
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(root, process.argv[2] ?? 'dist');

const entries = await readdir(join(root, 'src'), { recursive: true, withFileTypes: true });
for (const e of entries) {
  if (!e.isFile() || !e.name.endsWith('.proto')) continue;
  const from = join(e.parentPath, e.name);
  await cp(from, join(out, relative(root, from)));
}
for (const dir of ['docs/contracts', 'config/crd'])
  await cp(join(root, dir), join(out, dir), { recursive: true });
const { name, version, type } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8'));
await writeFile(join(out, 'package.json'), `${JSON.stringify({ name, version, type }, null, 2)}\n`);
