import type { TestContext } from 'node:test';
import type {
  NamedRuleWithOperations,
  ValidatingAdmissionPolicyBinding,
} from 'kubernetes-types/admissionregistration/v1.js';
import { Performers } from '../../../src/apis/hourglass.eigenlayer.io/performer.js';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { kind } from '../../../src/runtime/client/types.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { denyingPolicy } from '../../support/cluster.js';

const ValidatingAdmissionPolicyBindings = kind<ValidatingAdmissionPolicyBinding>(
  'admissionregistration.k8s.io/v1',
  'ValidatingAdmissionPolicyBinding',
);

/**
 * Performer deletions in `ns` refused by an admission policy (as an API server that fails them
 * would), until the returned function lifts the policy. Both wait until the API server acts on it.
 */
export async function refuseDeletions(t: TestContext, client: KubeClient, ns: string, probe: string) {
  const policy = `${ns}-no-performer-deletes`;
  await denyingPolicy(t, client, policy, {
    namespace: ns,
    rule: {
      apiGroups: ['hourglass.eigenlayer.io'],
      apiVersions: ['v1alpha1'],
      operations: ['DELETE'],
      resources: ['performers'],
    } as NamedRuleWithOperations,
    expression: 'false',
    message: 'no Performer deletions here',
  });
  const denied = () =>
    client.delete(Performers, probe, ns, { dryRun: ['All'] }).then(
      () => false,
      (err: Error) => /no Performer deletions here/.test(err.message),
    );
  await waitFor(denied, { description: `Performer deletions in ${ns} to be refused`, timeoutMs: 30_000 });
  return async () => {
    await client.delete(ValidatingAdmissionPolicyBindings, policy);
    await waitFor(async () => !(await denied()), {
      description: `Performer deletions in ${ns} to be allowed again`,
      timeoutMs: 30_000,
    });
  };
}
