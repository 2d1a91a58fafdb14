import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { consumerProject, ROOT } from './consumer.js';

const run = promisify(execFile);

test("'tutti/sandbox' exports what src/sandbox/index.ts does, from plain Node and from tsx", async () => {
  const dir = await consumerProject();
  const script = "import * as s from 'tutti/sandbox';\nconsole.log(JSON.stringify(Object.keys(s).sort()));\n";
  await writeFile(join(dir, 'plain.mjs'), script);
  await writeFile(join(dir, 'typed.ts'), script);
  const expected = Object.keys(await import('../../../src/sandbox/index.js')).sort();
  const plain = await run(process.execPath, ['plain.mjs'], { cwd: dir });
  assert.deepEqual(JSON.parse(plain.stdout), expected);
  const typed = await run(join(ROOT, 'node_modules/.bin/tsx'), ['typed.ts'], { cwd: dir });
  assert.deepEqual(JSON.parse(typed.stdout), expected);
});

test("'tutti/sandbox' carries its types: a consumer's TypeScript checks against them", async () => {
  const dir = await consumerProject();
  await writeFile(
    join(dir, 'use.ts'),
    "import { KubernetesSandbox, type CommandResult } from 'tutti/sandbox';\n" +
      "const s = new KubernetesSandbox('busybox', 'default');\n" +
      "export const run = (): Promise<CommandResult> => s.runCommand('true');\n" +
      '// @ts-expect-error: the timeout is a number\n' +
      "export const bad = () => s.runCommand('true', { timeoutMs: '1s' });\n",
  );
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules/@types')],
      },
      files: ['use.ts'],
    }),
  );
  const r = await run(join(ROOT, 'node_modules/.bin/tsc'), ['-p', '.'], { cwd: dir }).catch(
    (err: { stdout: string }) => ({ stdout: err.stdout, failed: true }),
  );
  assert.ok(!('failed' in r), r.stdout);
});
