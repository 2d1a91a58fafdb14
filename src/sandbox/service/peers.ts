import { createHash } from 'node:crypto';
import type { Pod } from 'kubernetes-types/core/v1.js';
import type { Logger } from 'pino';
import type { KubeClient } from '../../runtime/client/client.js';
import { Pods } from '../../runtime/client/kinds.js';

/** Marks a request one replica sends another: it is answered locally, never forwarded again. */
export const PEER_HEADER = 'x-ci-fixer-peer';

/**
 * Where a replica's peers reach it, `host:port`, instead of its Pod IP and the service's port: for
 * networks where the Pod IP is not reachable from the other replicas (the tests' simulated Pods).
 */
export const PEER_ADDRESS_ANNOTATION = 'sandbox.tutti.dev/peer-address';

/**
 * Labels that differ between Pods of the same service, so they do not select peers: per revision
 * (during a rolling update the old and new replicas see each other), per StatefulSet Pod, and the
 * node's topology labels the API server copies onto a Pod when it is bound.
 */
const PER_POD_LABELS = new Set(['pod-template-hash', 'controller-revision-hash']);
const PER_POD_LABEL_PREFIXES = [
  'topology.kubernetes.io/',
  'statefulset.kubernetes.io/',
  'apps.kubernetes.io/',
  'batch.kubernetes.io/',
];

function selectsPeers(label: string): boolean {
  return !PER_POD_LABELS.has(label) && !PER_POD_LABEL_PREFIXES.some((p) => label.startsWith(p));
}

/** Replicas seen, remembered so that an error about one that has gone can still name its Pod. */
const REMEMBERED_REPLICAS = 1000;

/**
 * A replica's token in its run ids: derived from its Pod's UID, so a Pod recreated under the same
 * name (a new replica, without the old one's runs) gets another.
 */
export function replicaToken(podUid: string): string {
  return createHash('sha256').update(podUid).digest('hex').slice(0, 6);
}

/** The replica a run id names (`run-<replica>-<time>-<random>`); undefined for a local-only id. */
export function replicaOf(runId: string): string | undefined {
  return /^run-([0-9a-f]{6})-[0-9a-z]+-[0-9a-f]+$/.exec(runId)?.[1];
}

export interface Peer {
  /** The replica's token, as in its run ids. */
  replica: string;
  pod: string;
  host: string;
  port: number;
}

export interface PeersOptions {
  client: KubeClient;
  namespace: string;
  /** The service's own Pod. */
  pod: { name: string; uid: string };
  /** The port every replica listens on (the service's own). */
  port(): number;
  /** How long a list of the peers is used before it is listed again. */
  ttlMs?: number;
  log: Logger;
}

/**
 * The other replicas of the service: the Pods in its namespace with its own Pod's labels (less the
 * per-revision ones) and an IP, Ready or not (one failing its readiness probe, as when the API
 * server blips, still holds its runs), listed through the API server and cached for `ttlMs`.
 */
export class Peers {
  readonly self: string;
  private selector?: string;
  private cached?: { at: number; peers: Peer[] };
  private listing?: Promise<Peer[]>;
  private readonly seen = new Map<string, string>();

  constructor(private readonly opts: PeersOptions) {
    this.self = replicaToken(opts.pod.uid);
    this.seen.set(this.self, opts.pod.name);
  }

  /** The other replicas, from the cache when it is younger than `maxAgeMs`. */
  async list(maxAgeMs = this.opts.ttlMs ?? 5000): Promise<Peer[]> {
    if (this.cached && Date.now() - this.cached.at < maxAgeMs) return this.cached.peers;
    // Concurrent requests share one list call.
    this.listing ??= this.fetch().finally(() => {
      this.listing = undefined;
    });
    return this.listing;
  }

  /**
   * The live replica with this token. A miss lists again (at most once a second), so a replica
   * started since the last list is found.
   */
  async find(replica: string): Promise<Peer | undefined> {
    const hit = (await this.list()).find((p) => p.replica === replica);
    return hit ?? (await this.list(1000)).find((p) => p.replica === replica);
  }

  /** The Pod name of a replica seen at some point, for messages about one that has gone. */
  podOf(replica: string): string | undefined {
    return this.seen.get(replica);
  }

  private async fetch(): Promise<Peer[]> {
    const { client, namespace, pod } = this.opts;
    this.selector ??= await this.ownSelector();
    // A Pod without labels has no peers: an empty selector would match every Pod in the namespace.
    const pods = this.selector
      ? (await client.list(Pods, { namespace, labelSelector: this.selector })).items
      : [];
    const peers: Peer[] = [];
    for (const p of pods) {
      const name = p.metadata?.name;
      const uid = p.metadata?.uid;
      if (!name || !uid || name === pod.name) continue;
      const address = this.address(p);
      if (!address) continue;
      const replica = replicaToken(uid);
      this.remember(replica, name);
      peers.push({ replica, pod: name, ...address });
    }
    this.cached = { at: Date.now(), peers };
    return peers;
  }

  /** The own Pod's labels as a selector (list, not get: the Role grants list on pods only). */
  private async ownSelector(): Promise<string> {
    const { client, namespace, pod } = this.opts;
    const own = (await client.list(Pods, { namespace, fieldSelector: `metadata.name=${pod.name}` })).items[0];
    if (!own) throw new Error(`the service's own Pod ${pod.name} is not in namespace ${namespace}`);
    const labels = Object.entries(own.metadata?.labels ?? {}).filter(([k]) => selectsPeers(k));
    return labels.map(([k, v]) => `${k}=${v}`).join(',');
  }

  private address(p: Pod): { host: string; port: number } | undefined {
    const override = p.metadata?.annotations?.[PEER_ADDRESS_ANNOTATION];
    if (override) {
      try {
        const url = new URL(`http://${override}`);
        return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || 80 };
      } catch {
        this.opts.log.warn(
          { pod: p.metadata?.name, value: override },
          `${PEER_ADDRESS_ANNOTATION} is not host:port`,
        );
        return undefined;
      }
    }
    const ip = p.status?.podIP;
    return ip ? { host: ip, port: this.opts.port() } : undefined;
  }

  private remember(replica: string, pod: string): void {
    this.seen.delete(replica);
    this.seen.set(replica, pod);
    if (this.seen.size > REMEMBERED_REPLICAS) this.seen.delete(this.seen.keys().next().value!);
  }
}
