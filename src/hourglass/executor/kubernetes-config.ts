import { DEFAULT_GRPC_PORT } from '../../apis/hourglass.eigenlayer.io/performer.js';

/** How an executor reaches Kubernetes and the performers the operator runs for it. */
export interface KubernetesConfig {
  /** Where the executor's Performers live. */
  namespace: string;
  /** Where the Hourglass operator runs (for diagnostics; Performers never go there). */
  operatorNamespace: string;
  /** The performers' gRPC port. */
  grpcPort: number;
  /** How long to wait for the API server, and for a performer to become reachable. */
  connectionTimeoutMs: number;
  /** Tries of each API call that fails for a transient reason, and the wait between them. */
  retryAttempts: number;
  retryDelayMs: number;
  /** The performers' ServiceAccount, if not the namespace default. */
  serviceAccountName?: string;
  /** A kubeconfig file; in a Pod the ServiceAccount is used when absent. */
  kubeconfig?: string;
  /** The kubeconfig's context to use; its current-context when absent. */
  context?: string;
}

export const DEFAULT_KUBERNETES_CONFIG: KubernetesConfig = {
  namespace: 'default',
  operatorNamespace: 'hourglass-system',
  grpcPort: DEFAULT_GRPC_PORT,
  connectionTimeoutMs: 30_000,
  retryAttempts: 3,
  retryDelayMs: 5_000,
};

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The config with defaults filled in; throws one error listing every field that is wrong. */
export function kubernetesConfig(input: Partial<KubernetesConfig> = {}): KubernetesConfig {
  const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  const c: KubernetesConfig = { ...DEFAULT_KUBERNETES_CONFIG, ...defined };
  const problems: string[] = [];
  for (const field of ['namespace', 'operatorNamespace'] as const) {
    if (typeof c[field] !== 'string' || !DNS_LABEL.test(c[field]) || c[field].length > 63)
      problems.push(`${field} "${c[field]}" is not a namespace name (a DNS label)`);
  }
  if (!Number.isInteger(c.grpcPort) || c.grpcPort < 1 || c.grpcPort > 65535)
    problems.push(`grpcPort ${c.grpcPort} is not a port (1-65535)`);
  if (!(c.connectionTimeoutMs > 0))
    problems.push(`connectionTimeout must be > 0, got ${c.connectionTimeoutMs} ms`);
  if (!Number.isInteger(c.retryAttempts) || c.retryAttempts < 1)
    problems.push(`retryAttempts must be a whole number ≥ 1, got ${c.retryAttempts}`);
  if (!(c.retryDelayMs >= 0)) problems.push(`retryDelay must be ≥ 0, got ${c.retryDelayMs} ms`);
  if (c.serviceAccountName !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(c.serviceAccountName))
    problems.push(`serviceAccountName "${c.serviceAccountName}" is not a ServiceAccount name`);
  if (problems.length) throw new Error(`invalid Kubernetes config: ${problems.join('; ')}`);
  return c;
}
