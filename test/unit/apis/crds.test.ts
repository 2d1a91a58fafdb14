import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import { crdFiles } from '../../../src/apis/crd.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { gitopsCrds } from '../../../src/gitops/crds.js';
import { hourglassCrds } from '../../../src/hourglass/crds.js';
import { plannerCrds } from '../../../src/planner/crds.js';

const modules: [string, () => CustomResourceDefinition[]][] = [
  ['conductor', conductorCrds],
  ['gitops', gitopsCrds],
  ['hourglass', hourglassCrds],
  ['planner', plannerCrds],
];

for (const [module, crds] of modules) {
  test(`config/crd holds exactly what the ${module} types generate`, async () => {
    for (const [name, content] of crdFiles(crds())) {
      const onDisk = await readFile(new URL(`../../../config/crd/${name}`, import.meta.url), 'utf8').catch(
        () => '',
      );
      assert.equal(onDisk, content, `config/crd/${name} is stale: run tutti ${module} crds --out config/crd`);
    }
  });
}

test('generated CRDs carry no YAML anchors, and every one has a status subresource and an Age column', () => {
  for (const [, crds] of modules) {
    for (const [name, content] of crdFiles(crds())) {
      assert.doesNotMatch(content, /[&*]a\d+\b/, `${name} uses YAML anchors`);
    }
    for (const crd of crds()) {
      const version = crd.spec.versions[0]!;
      assert.deepEqual(version.subresources, { status: {} }, crd.metadata!.name);
      assert.equal(version.additionalPrinterColumns?.at(-1)?.jsonPath, '.metadata.creationTimestamp');
    }
  }
});
