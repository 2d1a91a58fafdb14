/**
 * What a Performer's own writes cost the API server, per request: the executor's create and the
 * operator's first status (as a merge patch, and as the PUT the operator sends), with the CRD as
 * shipped, without its CEL rules and without a schema at all, beside a ConfigMap create, in rounds whose order rotates, on one plane. The
 * API server's CPU is read from its /metrics before and after each batch; nothing else should
 * load the plane meanwhile.
 *   node --import tsx bench/hourglass/writes.ts [--count 400] [--rounds 4] [--inflight 16]
 */
import { parseArgs } from 'node:util';
import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { type Performer, Performers } from '../../src/apis/hourglass.eigenlayer.io/performer.js';
import { kubernetesConfig } from '../../src/hourglass/executor/kubernetes-config.js';
import { performerFor } from '../../src/hourglass/executor/kubernetes-manager.js';
import { KubeClient } from '../../src/runtime/client/client.js';
import { CustomResourceDefinitions, Namespaces } from '../../src/runtime/client/kinds.js';
import { kind } from '../../src/runtime/client/types.js';
import { CRD_DIR, installCrds, readCrds } from '../../src/runtime/crds.js';
import { apiServerCpuSeconds, benchCluster, median, pool } from '../support.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '400' },
    rounds: { type: 'string', default: '4' },
    inflight: { type: 'string', default: '16' },
  },
});
const count = Number(values.count);
const rounds = Number(values.rounds);
const inflight = Number(values.inflight);

const { kubeconfig, done } = await benchCluster('hourglass-writes');
const client = await KubeClient.load(kubeconfig, { fieldManager: 'bench' });
const ns = `bench-writes-${Date.now()}`;

const shipped = (await readCrds(CRD_DIR.pathname)).find((c) => c.spec?.names?.kind === 'Performer')!;
/** The shipped CRD in a group of its own, its versions' schemas changed by `schema`. */
function variant(group: string, schema: (s: Record<string, unknown>) => Record<string, unknown>) {
  const crd = structuredClone(shipped) as CustomResourceDefinition;
  crd.metadata = { name: `${crd.spec.names.plural}.${group}` };
  crd.spec.group = group;
  for (const v of crd.spec.versions) {
    const s = v.schema?.openAPIV3Schema as Record<string, unknown> | undefined;
    if (s) v.schema = { openAPIV3Schema: schema(s) };
  }
  return crd;
}
function withoutCel(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withoutCel);
  if (!node || typeof node !== 'object') return node;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([k]) => k !== 'x-kubernetes-validations')
      .map(([k, v]) => [k, withoutCel(v)]),
  );
}
const anything = { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
const variants = [
  { name: 'as shipped', crd: shipped },
  {
    name: 'without CEL rules',
    crd: variant('nocel.bench.tutti.dev', (s) => withoutCel(s) as Record<string, unknown>),
  },
  {
    name: 'without a schema',
    crd: variant('noschema.bench.tutti.dev', (s) => ({
      type: 'object',
      properties: {
        metadata: s['properties'] && (s['properties'] as Record<string, unknown>)['metadata'],
        spec: anything,
        status: anything,
      },
    })),
  },
];

/** The status the operator writes once the Performer's Pod is Ready. */
function runningStatus(name: string): Performer['status'] {
  const at = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const condition = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastTransitionTime: at,
    observedGeneration: 1,
  });
  return {
    phase: 'Running',
    ready: true,
    podName: `performer-${name}`,
    serviceName: `performer-${name}`,
    grpcEndpoint: `performer-${name}.${ns}.svc.cluster.local:9090`,
    readyTime: at,
    observedGeneration: 1,
    conditions: [
      condition('Available', 'True', 'PodReady', `Pod performer-${name} is Ready`),
      condition('Progressing', 'False', 'PodReady', 'the performer runs its current spec'),
      condition('Degraded', 'False', 'AsExpected', 'no problem seen'),
    ],
  };
}

/** The API server's CPU per request, in ms, over `count` requests with `inflight` in flight. */
async function cpuPerRequest(
  send: (i: number) => Promise<unknown>,
  indexes = range(0, count),
): Promise<number> {
  const before = await apiServerCpuSeconds(client);
  await pool(indexes, inflight, send);
  return ((await apiServerCpuSeconds(client)) - before) * (1000 / indexes.length);
}
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

type Figures = Record<string, number[]>;
const figures: Figures = {};
const record = (what: string, ms: number) => {
  figures[what] ??= [];
  figures[what].push(ms);
};

try {
  await installCrds(
    client,
    variants.map((v) => v.crd),
  );
  await client.create({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  const sides = [
    {
      name: 'ConfigMap',
      run: async (r: number) => {
        const configMap = (i: number): ConfigMap => ({
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `cm-${r}-${i}`, namespace: ns },
          data: { index: String(i) },
        });
        return { create: await cpuPerRequest((i) => client.createOnly(configMap(i))) };
      },
    },
    ...variants.map((v) => ({
      name: v.name,
      run: async (r: number) => {
        const apiVersion = `${v.crd.spec.group}/v1alpha1`;
        const Kind =
          apiVersion === Performers.apiVersion ? Performers : kind<Performer>(apiVersion, 'Performer');
        const name = (i: number) => `p-${r}-${i}`;
        const create = await cpuPerRequest((i) => {
          const p = performerFor(
            { name: name(i), avsAddress: `0xbench${i % 10}`, image: 'ghcr.io/acme/perf', version: 'v1' },
            kubernetesConfig({ namespace: ns }),
          );
          // Without the finalizer, so that the namespace goes without an operator.
          return client.createOnly({ ...p, apiVersion, metadata: { ...p.metadata, finalizers: [] } });
        });
        // Half the Performers get their first status as a merge patch, half as a PUT of the
        // object the operator's cache would hold (managedFields left out: the server keeps them).
        const half = Math.floor(count / 2);
        const status = await cpuPerRequest(
          (i) => client.patch(Kind, name(i), ns, { status: runningStatus(name(i)) }, 'merge', 'status'),
          range(0, half),
        );
        const cached = new Map(
          (await client.list(Kind, { namespace: ns })).items.map((p) => [p.metadata!.name!, p]),
        );
        const put = await cpuPerRequest(
          (i) => {
            const p = cached.get(name(i))!;
            const { managedFields: _, ...metadata } = p.metadata!;
            return client.replaceStatus({
              ...p,
              apiVersion,
              kind: 'Performer',
              metadata,
              status: runningStatus(name(i)),
            });
          },
          range(half, count),
        );
        return { create, 'status merge patch': status, 'status PUT': put };
      },
    })),
  ];
  // Untimed first: the API server's paths for each kind warm up.
  for (const side of sides) await side.run(-1);
  for (let r = 0; r < rounds; r++) {
    // Each side takes every place in the order over the rounds.
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    const line: string[] = [];
    for (const side of order) {
      for (const [request, ms] of Object.entries(await side.run(r))) {
        record(`${side.name}: ${request}`, ms);
        line.push(`${side.name} ${request} ${ms.toFixed(2)}`);
      }
    }
    console.log(`round ${r + 1}: ${line.join(', ')} (ms of API server CPU per request)`);
  }
  const baseline = median(figures['ConfigMap: create']!);
  console.log(
    `API server CPU per request, ${count} requests, ${inflight} in flight, median of ${rounds} rounds:`,
  );
  for (const [what, ms] of Object.entries(figures)) {
    const m = median(ms);
    console.log(
      `  ${what}: ${m.toFixed(2)} ms | baseline (ConfigMap create): ${baseline.toFixed(2)} ms | ratio ${(m / baseline).toFixed(2)}`,
    );
  }
} finally {
  await client.delete(Namespaces, ns).catch(() => {});
  for (const v of variants.slice(1))
    await client.delete(CustomResourceDefinitions, v.crd.metadata!.name!).catch(() => {});
  client.close();
  await done();
}
