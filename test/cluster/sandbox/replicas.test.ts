import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { Pods } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { PEER_ADDRESS_ANNOTATION, replicaToken } from '../../../src/sandbox/service/peers.js';
import type { Run, RunEvent } from '../../../src/sandbox/service/runs.js';
import { CiFixerService } from '../../../src/sandbox/service/server.js';
import { testClient } from '../../support/cluster.js';
import { eventsWithIds, runEvents, sandboxNamespace, workdir } from './support.js';

/** The labels the chart gives the service's Pods, plus one that differs between revisions. */
const LABELS = { app: 'ci-fixer', 'app.kubernetes.io/instance': 'ci-fixer' };

interface Replica {
  pod: string;
  replica: string;
  base: string;
  service: CiFixerService;
}

interface RunList {
  runs: { id: string; status: string }[];
  partial?: { replica?: string; pod?: string; error: string }[];
}

/**
 * The events of run `id`, read from `from` then reconnected through `via` with the id of its first
 * output: they resume after it; reconnected with the id of the last event, there is nothing more.
 */
async function assertResumesThrough(from: string, via: string, id: string): Promise<void> {
  const all = await eventsWithIds(from, id);
  const cut = all.findIndex((g) => g.event.type === 'output');
  const rest = await eventsWithIds(via, id, { 'last-event-id': all[cut]!.id });
  assert.deepEqual(rest, all.slice(cut + 1));
  const ended = await fetch(`${via}/api/runs/${id}/events`, { headers: { 'last-event-id': all.at(-1)!.id } });
  assert.equal(ended.status, 204);
}

/**
 * Replicas of the ci-fixer service in one namespace, as a Deployment runs them: each a real Pod
 * with the service's labels (kwok makes it Ready with a Pod IP), and an in-process service given
 * that Pod. The simulated Pod IPs do not route, so each Pod carries the peer-address annotation
 * naming the service's port on this machine.
 */
async function replicaSet(t: TestContext) {
  // Closed after the services stopped: stop() waits for runs to tear their sandboxes down.
  const admin = await testClient(undefined);
  const { ns, app } = await sandboxNamespace(t, admin);
  const dir = await workdir();
  const started: CiFixerService[] = [];
  t.after(async () => {
    await Promise.all(started.map((s) => s.stop()));
    admin.close();
  });

  async function pod(
    name: string,
    revision: string,
    annotations: Record<string, string> = {},
    node?: string,
  ): Promise<Pod> {
    const created = await admin.create<Pod>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, labels: { ...LABELS, 'pod-template-hash': revision }, annotations },
      spec: {
        ...(node ? { nodeSelector: { 'kubernetes.io/hostname': node } } : {}),
        securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'ci-fixer',
            image: 'ci-fixer:latest',
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    });
    await waitFor(
      async () => {
        const p = await admin.get(Pods, name, ns);
        return (
          !!p.status?.podIP && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        );
      },
      { description: `pod ${name} to be Ready with an IP`, timeoutMs: 30_000 },
    );
    return created;
  }

  async function replica(name: string, revision = 'rev1', node?: string): Promise<Replica> {
    const p = await pod(name, revision, {}, node);
    const service = new CiFixerService({
      client: app,
      namespace: ns,
      port: 0,
      host: '127.0.0.1',
      workdir: dir,
      pod: { name, uid: p.metadata!.uid! },
    });
    const port = await service.start();
    started.push(service);
    await admin.patch(Pods, name, ns, {
      metadata: { annotations: { [PEER_ADDRESS_ANNOTATION]: `127.0.0.1:${port}` } },
    });
    return { pod: name, replica: replicaToken(p.metadata!.uid!), base: `http://127.0.0.1:${port}`, service };
  }

  return { ns, admin, dir, pod, replica };
}

async function post(base: string, commands: string[]): Promise<string> {
  const res = await fetch(`${base}/api/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ commands }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as Run).id;
}

async function getJson<T>(url: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as T };
}

function stdoutOf(stream: RunEvent[]): string {
  return stream.map((e) => (e.type === 'output' && e.stream === 'stdout' ? e.text : '')).join('');
}

async function finished(base: string, id: string): Promise<Run> {
  return waitFor(
    async () => {
      const { body } = await getJson<Run>(`${base}/api/runs/${id}`);
      return ['succeeded', 'failed', 'error'].includes(body.status) && body;
    },
    { description: `run ${id} to finish`, timeoutMs: 60_000 },
  );
}

describe('ci-fixer replicas', () => {
  test('a run started on one replica is listed, fetched and streamed live through another', async (t) => {
    const { dir, replica } = await replicaSet(t);
    // Two revisions, as during a rolling update, on nodes in two zones (the API server labels each
    // Pod with its node's zone): they still see each other.
    const a = await replica('ci-fixer-app-a', 'rev1', 'tutti-worker-0');
    const b = await replica('ci-fixer-app-b', 'rev2', 'tutti-worker-1');

    // The run can only finish once its first line has come out of B's forwarded stream.
    const gate = join(dir, 'through-b');
    const onA = await post(a.base, [`echo first; while [ ! -f ${gate} ]; do sleep 0.05; done; echo second`]);
    let stream: RunEvent[];
    try {
      assert.match(onA, new RegExp(`^run-${a.replica}-`));
      stream = await runEvents(b.base, onA, (e) => {
        if (e.type === 'output' && e.text.includes('first')) void writeFile(gate, '');
      });
    } finally {
      // Else the run, and A's stop() with it, would wait for the gate until the command's timeout.
      await writeFile(gate, '');
    }
    assert.equal(stdoutOf(stream), 'first\nsecond\n');
    assert.deepEqual(stream.at(-1), { type: 'end', status: 'succeeded' });

    // A stream that reconnects through B with the id of the last event it got resumes after it.
    await assertResumesThrough(a.base, b.base, onA);

    const fetched = await getJson<Run>(`${b.base}/api/runs/${onA}`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.id, onA);
    assert.equal(fetched.body.steps[0]?.stdout, 'first\nsecond\n');

    // Either replica lists both replicas' runs, newest first, and says nothing is missing.
    const onB = await post(b.base, ['echo on-b']);
    assert.match(onB, new RegExp(`^run-${b.replica}-`));
    await finished(a.base, onB);
    for (const r of [a, b]) {
      const list = await getJson<RunList>(`${r.base}/api/runs`);
      assert.equal(list.status, 200);
      assert.deepEqual(
        list.body.runs.map((run) => [run.id, run.status]),
        [
          [onB, 'succeeded'],
          [onA, 'succeeded'],
        ],
        `the list of ${r.pod}`,
      );
      assert.equal(list.body.partial, undefined);
    }
  });

  test('a replica whose Pod is not Ready still answers for its runs through the others', async (t) => {
    const { ns, admin, replica } = await replicaSet(t);
    const a = await replica('ci-fixer-app-a');
    const b = await replica('ci-fixer-app-b');
    const onA = await post(a.base, ['echo on-a']);
    await finished(a.base, onA);
    // Its readiness probe fails (as when its API server blips), but it still holds its runs.
    await admin.patch(
      Pods,
      a.pod,
      ns,
      { status: { conditions: [{ type: 'Ready', status: 'False', reason: 'ProbeFailed' }] } },
      'strategic',
      'status',
    );
    // A stream that reconnects through B with the id of the last event it got resumes after it.
    await assertResumesThrough(a.base, b.base, onA);

    const fetched = await getJson<Run>(`${b.base}/api/runs/${onA}`);
    assert.equal(fetched.status, 200, JSON.stringify(fetched.body));
    assert.equal(fetched.body.steps[0]?.stdout, 'on-a\n');
    const list = await getJson<RunList>(`${b.base}/api/runs`);
    assert.deepEqual(
      list.body.runs.map((run) => run.id),
      [onA],
    );
  });

  test('a replica that does not answer is named in the list and in the error of its runs; one that is gone, too', async (t) => {
    const { ns, admin, pod, replica } = await replicaSet(t);
    const a = await replica('ci-fixer-app-a');
    const b = await replica('ci-fixer-app-b');
    const c = await replica('ci-fixer-app-c');

    // A replica whose Pod is Ready but whose service accepts connections and never answers.
    const sockets = new Set<Socket>();
    const hung = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of sockets) s.destroy();
      hung.close();
    });
    const { port } = hung.address() as { port: number };
    const h = await pod('ci-fixer-app-hung', 'rev1', { [PEER_ADDRESS_ANNOTATION]: `127.0.0.1:${port}` });
    const hungReplica = replicaToken(h.metadata!.uid!);

    const onA = await post(a.base, ['echo on-a']);
    const onC = await post(c.base, ['echo on-c']);
    await finished(a.base, onA);
    await finished(b.base, onC);

    const list = await waitFor(
      async () => {
        const l = await getJson<RunList>(`${b.base}/api/runs`);
        return l.body.partial?.some((p) => p.replica === hungReplica) && l;
      },
      { description: 'the list to name the replica that does not answer', timeoutMs: 30_000 },
    );
    assert.equal(list.status, 200);
    assert.deepEqual(
      new Set(list.body.runs.map((r) => r.id)),
      new Set([onA, onC]),
      JSON.stringify(list.body),
    );
    assert.equal(list.body.partial?.length, 1);
    assert.equal(list.body.partial?.[0]?.pod, 'ci-fixer-app-hung');
    assert.match(list.body.partial?.[0]?.error ?? '', /no answer within/);
    // A run of that replica: 503 naming it, not a hang.
    const hungRun = await getJson<{ error: string; replica: string; pod: string }>(
      `${b.base}/api/runs/run-${hungReplica}-abc-123456/events`,
    );
    assert.equal(hungRun.status, 503);
    assert.equal(hungRun.body.pod, 'ci-fixer-app-hung');
    assert.match(hungRun.body.error, /does not answer/);

    // C's service stops (its Pod still Ready for now): its runs cannot be read, and B says why.
    await c.service.stop();
    const unanswered = await getJson<{ error: string; replica: string; pod: string }>(
      `${b.base}/api/runs/${onC}`,
    );
    assert.equal(unanswered.status, 503);
    assert.deepEqual([unanswered.body.replica, unanswered.body.pod], [c.replica, c.pod]);
    assert.match(
      unanswered.body.error,
      new RegExp(`run ${onC} is held by replica ${c.replica} \\(pod ${c.pod}\\), which does not answer`),
    );
    const withoutC = await getJson<RunList>(`${a.base}/api/runs`);
    assert.deepEqual(
      withoutC.body.runs.map((r) => r.id),
      [onA],
    );
    assert.deepEqual(withoutC.body.partial?.map((p) => p.pod).sort(), [
      'ci-fixer-app-c',
      'ci-fixer-app-hung',
    ]);

    // C's Pod goes: its runs went with it, and B says so, naming the replica and its Pod.
    await admin.delete(Pods, c.pod, ns, { gracePeriodSeconds: 0 });
    const gone = await waitFor(
      async () => {
        const r = await getJson<{ error: string; replica: string; pod: string }>(
          `${b.base}/api/runs/${onC}/events`,
        );
        return r.status === 404 && r;
      },
      { description: `B to find that replica ${c.replica} is gone`, timeoutMs: 30_000 },
    );
    assert.deepEqual([gone.body.replica, gone.body.pod], [c.replica, c.pod]);
    assert.match(gone.body.error, /which is gone.*its runs went with it/);
    // Its runs are no longer expected: the list no longer names it.
    await waitFor(
      async () => {
        const l = await getJson<RunList>(`${a.base}/api/runs`);
        return l.body.partial?.map((p) => p.pod).join() === 'ci-fixer-app-hung';
      },
      { description: 'the list to stop naming the replica that is gone', timeoutMs: 30_000 },
    );
  });
});
