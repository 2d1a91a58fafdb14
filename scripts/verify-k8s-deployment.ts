/**
 * Verifies the ci-fixer's RBAC in a namespace (default: "default", or $NAMESPACE): prints ✅/❌
 * per check and exits non-zero when any fails. Same as `tutti sandbox verify`.
 *
 *   npx tsx scripts/verify-k8s-deployment.ts
 */
import { KubeClient } from '../src/runtime/client/client.js';
import { formatChecks, verifyDeployment } from '../src/sandbox/verify.js';

const namespace = process.env['NAMESPACE'] || 'default';
const client = await KubeClient.load();
try {
  console.log(`Verifying the ci-fixer deployment in namespace ${namespace}...`);
  const results = await verifyDeployment(client, { namespace });
  console.log(formatChecks(results));
  const failed = results.filter((r) => !r.ok).length;
  console.log(
    failed ? `\n❌ ${failed} of ${results.length} checks failed` : `\n✅ All ${results.length} checks passed`,
  );
  process.exitCode = failed ? 1 : 0;
} catch (err) {
  console.error(`❌ verification could not run: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  client.close();
}
