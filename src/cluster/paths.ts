import { homedir } from 'node:os';
import { join } from 'node:path';

/** Built binaries and Go build trees: kept across clusters and runs, keyed by version. */
export function cacheDir(): string {
  if (process.env['TUTTI_CACHE_DIR']) return process.env['TUTTI_CACHE_DIR'];
  const base = process.env['XDG_CACHE_HOME'] || join(homedir(), '.cache');
  return join(base, 'tutti');
}

/** Per-cluster state: certificates, etcd data, kubeconfig, logs, the running processes. */
export function stateDir(): string {
  if (process.env['TUTTI_STATE_DIR']) return process.env['TUTTI_STATE_DIR'];
  const base = process.env['XDG_STATE_HOME'] || join(homedir(), '.local', 'state');
  return join(base, 'tutti');
}

export function clusterDir(name: string): string {
  return join(stateDir(), 'clusters', name);
}
