import type { Performer } from '../../apis/hourglass.eigenlayer.io/performer.js';
import { grpcEndpoint } from '../desired-state.js';

/** Where to dial a performer: `host:port`. */
export type EndpointResolver = (performer: Performer) => string;

/** The Service's cluster DNS name: `performer-<name>.<namespace>.svc.cluster.local:<port>`. */
export const clusterDnsResolver: EndpointResolver = grpcEndpoint;

/** Whether this process runs in a Pod (the kubelet sets these for every container). */
export function inCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env['KUBERNETES_SERVICE_HOST'] && env['KUBERNETES_SERVICE_PORT']);
}

/**
 * The resolver an executor uses: `override` first (out of cluster, e.g. a port-forward or a
 * performer run locally), then the cluster DNS name when running in a Pod. Out of cluster with
 * no override the DNS name cannot resolve, so it fails saying what to do.
 */
export function endpointResolver(
  opts: { override?: (performer: Performer) => string | undefined; inCluster?: boolean } = {},
): EndpointResolver {
  const clusterDns = opts.inCluster ?? inCluster();
  return (performer) => {
    const overridden = opts.override?.(performer);
    if (overridden) return overridden;
    if (clusterDns) return clusterDnsResolver(performer);
    throw new Error(
      `performer ${performer.metadata?.namespace}/${performer.metadata?.name}: running outside the cluster, ` +
        `so ${grpcEndpoint(performer)} does not resolve; run tutti executor with --performer-endpoint <host:port> ` +
        '(e.g. a port-forward), or give KubernetesPerformer an endpointResolver',
    );
  };
}
