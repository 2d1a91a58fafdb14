import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import type { ProvisioningRequest } from '../../../src/apis/o2ims/provisioning-request.js';
import { testKubeconfig } from '../../support/cluster.js';

const tutti = join(import.meta.dirname, '..', '..', '..', 'bin', 'tutti.js');

test('tutti gitops e2e --mode both: intent in, bundles Ready and requests fulfilled on both edges, artifacts written', async (t) => {
  const cluster = process.env['TUTTI_TEST_CLUSTER'];
  if (!cluster) return t.skip('needs local control planes (TUTTI_TEST_CLUSTER)');
  const artifacts = await mkdtemp(join(tmpdir(), 'tutti-wf-d-'));
  t.after(() => rm(artifacts, { recursive: true, force: true }));
  const args = [
    'gitops',
    'e2e',
    '--mode',
    'both',
    '--kubeconfig',
    testKubeconfig(),
    '--name',
    `${cluster}-wfd`,
  ];
  const child = spawn(process.execPath, [tutti, ...args, '--artifacts', artifacts, '--period', '1s'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c));
  child.stderr.on('data', (c: Buffer) => (err += c));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  assert.equal(code, 0, `exit ${code}\n${out}\n${err.slice(-3000)}`);

  const [dir] = await readdir(artifacts);
  assert.match(dir!, /^wf-d-e2e-\d{8}T\d{6}Z$/);
  const files = await readdir(join(artifacts, dir!));
  for (const f of [
    'test-report.md',
    'real-nodes.txt',
    'real-namespaces.txt',
    'fake-nodes.txt',
    'fake-namespaces.txt',
  ])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  const report = await readFile(join(artifacts, dir!, 'test-report.md'), 'utf8');
  assert.match(report, /result: \*\*PASS\*\* \(10\/10 checks\)/);
  for (const mode of ['fake', 'real']) {
    const prs = files.filter((f) => f.startsWith(`pr-${mode}-`) && f.endsWith('.yaml'));
    assert.equal(prs.length, 3, `${mode}: ${prs.join(', ')}`);
    const templates = [];
    for (const f of prs) {
      const pr = parse(await readFile(join(artifacts, dir!, f), 'utf8')) as ProvisioningRequest;
      assert.equal(pr.status?.provisioningStatus?.provisioningState, 'fulfilled', f);
      templates.push(pr.spec.templateName);
    }
    assert.deepEqual(templates.sort(), ['cn-bundle', 'ran-bundle', 'tn-bundle']);
  }
  const nodes = await readFile(join(artifacts, dir!, 'fake-nodes.txt'), 'utf8');
  assert.match(nodes, /^tutti-worker-0\tReady\tzone-a/m);
  assert.match(
    await readFile(join(artifacts, dir!, 'real-namespaces.txt'), 'utf8'),
    /^intent-to-krm\tActive$/m,
  );
});
