import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { type Performer, Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import { hourglassCrds } from '../../../src/hourglass/crds.js';
import { InvalidError } from '../../../src/runtime/client/errors.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';

const run = promisify(execFile);

function performer(namespace: string, name: string, spec: Record<string, unknown>): Performer {
  return {
    apiVersion: 'hourglass.eigenlayer.io/v1alpha1',
    kind: 'Performer',
    metadata: { name, namespace },
    spec: spec as unknown as Performer['spec'],
  };
}

async function rejection(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => assert.fail('the API server accepted an invalid Performer'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof InvalidError, `expected a 422 Invalid, got ${String(err)}`);
  return err.message;
}

test('the Performer CRD serves, defaults and validates Performers', async (t) => {
  const client = await testClient(t);
  await installCrds(client, hourglassCrds());
  const ns = await testNamespace(t, client, 'hg-crd');

  const created = await client.create(
    performer(ns, 'good', { avsAddress: '0xAbC', image: 'ghcr.io/x/performer', version: 'v1.0.0' }),
  );
  assert.equal(created.spec.config?.grpcPort, undefined, 'no config, no defaulting of its fields');
  const withConfig = await client.create(
    performer(ns, 'with-config', { avsAddress: '0xabc', image: 'img', config: { args: ['--x'] } }),
  );
  assert.equal(withConfig.spec.config?.grpcPort, 9090);

  // The status subresource accepts the phases of the enum and nothing else.
  await client.applyStatus({
    ...created,
    metadata: { name: 'good', namespace: ns },
    status: { phase: 'Running' },
  });
  assert.match(
    await rejection(
      client.applyStatus({
        apiVersion: created.apiVersion,
        kind: created.kind,
        metadata: { name: 'good', namespace: ns },
        status: { phase: 'Unknown' as 'Running' },
      } as Performer),
    ),
    /status\.phase/,
  );

  assert.match(
    await rejection(client.create(performer(ns, 'no-image', { avsAddress: '0xabc' }))),
    /spec\.image/,
  );
  assert.match(
    await rejection(
      client.create(
        performer(ns, 'bad-tee', {
          avsAddress: '0xabc',
          image: 'img',
          hardwareRequirements: { teeRequired: true },
        }),
      ),
    ),
    /spec\.hardwareRequirements.*teeType/,
  );
  assert.match(
    await rejection(
      client.create(
        performer(ns, 'bad-tee-type', {
          avsAddress: '0xabc',
          image: 'img',
          hardwareRequirements: { teeRequired: true, teeType: 'trustzone' },
        }),
      ),
    ),
    /spec\.hardwareRequirements\.teeType/,
  );
  assert.match(
    await rejection(
      client.create(
        performer(ns, 'bad-port', { avsAddress: '0xa', image: 'i', config: { grpcPort: 70000 } }),
      ),
    ),
    /spec\.config\.grpcPort/,
  );
  assert.match(
    await rejection(client.create(performer(ns, 'x'.repeat(54), { avsAddress: '0xa', image: 'i' }))),
    /metadata\.name: Too long: may not be more than 53/,
  );
  assert.match(
    await rejection(client.create(performer(ns, 'a.b', { avsAddress: '0xa', image: 'i' }))),
    /metadata\.name in body should match/,
    'a name with a dot is a DNS subdomain, not the DNS label the Service name needs',
  );

  // customLabels become Pod labels: keys and values the Pod would refuse are refused here.
  const labelled = (name: string, customLabels: Record<string, string>) =>
    performer(ns, name, { avsAddress: '0xa', image: 'i', hardwareRequirements: { customLabels } });
  assert.match(
    await rejection(client.create(labelled('bad-label-key', { 'bad key!': 'x' }))),
    /spec\.hardwareRequirements\.customLabels.*label key/,
  );
  assert.match(
    await rejection(client.create(labelled('bad-label-value', { team: 'blue team!' }))),
    /spec\.hardwareRequirements\.customLabels\.team/,
  );
  assert.match(
    await rejection(client.create(labelled('long-label-value', { team: 'x'.repeat(64) }))),
    /spec\.hardwareRequirements\.customLabels\.team/,
  );
  await client.create(labelled('good-labels', { team: 'blue', 'acme.io/tier': 'Gold_1', empty: '' }));

  // The version is the image's tag: both at once would leave the version shown but not run.
  assert.match(
    await rejection(
      client.create(performer(ns, 'tag-and-version', { avsAddress: '0xa', image: 'a/b:v1', version: 'v2' })),
    ),
    /spec\.version.*not in both/,
  );
  assert.match(
    await rejection(
      client.create(
        performer(ns, 'digest-and-version', { avsAddress: '0xa', image: 'a/b@sha256:00', version: 'v2' }),
      ),
    ),
    /spec\.version/,
  );
  await client.create(
    performer(ns, 'registry-port', { avsAddress: '0xa', image: 'reg:5000/a/b', version: 'v2' }),
  );
  await client.create(performer(ns, 'pinned', { avsAddress: '0xa', image: 'a/b:v1' }));
  assert.match(
    await rejection(client.patch(Performers, 'pinned', ns, { spec: { version: 'v3' } })),
    /spec\.version.*not in both/,
  );

  // kubectl shows the printer columns.
  const { stdout } = await run('kubectl', ['--kubeconfig', testKubeconfig(), 'get', 'performers', '-n', ns]);
  const header = stdout.split('\n')[0]!.trim().split(/\s+/);
  assert.deepEqual(header, ['NAME', 'AVS', 'IMAGE', 'VERSION', 'PHASE', 'ENDPOINT', 'AGE']);
  assert.match(stdout, /good\s+0xAbC\s+ghcr\.io\/x\/performer\s+v1\.0\.0\s+Running/);
  assert.ok(await client.find(Performers, 'good', ns));
});
