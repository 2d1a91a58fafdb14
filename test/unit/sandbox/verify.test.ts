import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PolicyRule, Role } from 'kubernetes-types/rbac/v1.js';
import { parse, parseAllDocuments } from 'yaml';
import { SANDBOX_MANAGER_PERMISSIONS, SANDBOX_MANAGER_ROLE } from '../../../src/sandbox/verify.js';

const ROOT = join(import.meta.dirname, '../../..');

/** A Role's rules as `verb group/resource[/subresource]` lines, sorted. */
function grants(rules: readonly PolicyRule[]): string[] {
  return rules
    .flatMap((r) =>
      (r.resources ?? []).flatMap((resource) =>
        (r.apiGroups ?? []).flatMap((group) => r.verbs.map((verb) => `${verb} ${group}/${resource}`)),
      ),
    )
    .sort();
}

test('the manifest and the chart grant exactly the permissions verify checks', async () => {
  const checked = SANDBOX_MANAGER_PERMISSIONS.map(
    (p) => `${p.verb} ${p.group ?? ''}/${p.resource}${p.subresource ? `/${p.subresource}` : ''}`,
  ).sort();
  const manifest = parseAllDocuments(await readFile(join(ROOT, 'k8s/rbac/k8s.yaml'), 'utf8'))
    .map((d) => d.toJS() as Role)
    .find((o) => o.kind === 'Role' && o.metadata?.name === SANDBOX_MANAGER_ROLE);
  assert.ok(manifest, `k8s/rbac/k8s.yaml holds Role ${SANDBOX_MANAGER_ROLE}`);
  assert.deepEqual(grants(manifest.rules ?? []), checked, 'k8s/rbac/k8s.yaml');
  // The template's only Helm expressions are in its labels, which the rules do not need.
  const template = (await readFile(join(ROOT, 'chart/templates/role.yaml'), 'utf8'))
    .split('\n')
    .filter((line) => !line.includes('{{'))
    .join('\n');
  const chart = parse(template) as Role;
  assert.equal(chart.metadata?.name, SANDBOX_MANAGER_ROLE);
  assert.deepEqual(grants(chart.rules ?? []), checked, 'chart/templates/role.yaml');
});
