import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { Writable } from 'node:stream';
import { describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import { pino } from 'pino';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { MAX_REQUEST_SOCKETS } from '../../../src/runtime/client/connection.js';
import { ConfigMaps, Leases } from '../../../src/runtime/client/kinds.js';
import {
  LEASE_DURATION_MS,
  LeaderElector,
  RENEW_DEADLINE_MS,
  RETRY_PERIOD_MS,
} from '../../../src/runtime/leader-election.js';
import { Manager } from '../../../src/runtime/manager.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { blackholeProxied } from './fixtures/blackhole-proxy.js';
import { faultInjected, type SeenRequest } from './fixtures/fault-injecting-proxy.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/elected-mirror.ts', import.meta.url));
/** Scheduling slack on a loaded two-core machine, on top of what the protocol allows. */
const SLACK_MS = 5_000;

interface Candidate {
  identity: string;
  healthPort: number;
  child: ChildProcess;
}

async function candidate(t: TestContext, namespace: string, identity: string): Promise<Candidate> {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, testKubeconfig(), namespace, identity], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TUTTI_LOG_LEVEL: 'warn' },
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout! });
  const [line] = (await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`candidate ${identity} exited with ${code} before it was ready`);
    }),
  ])) as [string];
  return { identity, child, ...(JSON.parse(line) as { healthPort: number }) };
}

async function masterStatus(c: Candidate): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${c.healthPort}/metrics`)).text();
  const m = /^leader_election_master_status\{name="elected-mirror"\} (\d)/m.exec(text);
  if (!m) throw new Error('leader_election_master_status missing from /metrics');
  return Number(m[1]);
}

async function stampedBy(client: KubeClient, namespace: string, name: string): Promise<string | undefined> {
  await client.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace } });
  return waitFor(
    async () =>
      (await client.get(ConfigMaps, name, namespace)).metadata?.annotations?.['tutti.dev/reconciled-by'],
    {
      description: `ConfigMap ${name} to be reconciled by the leader`,
      timeoutMs: LEASE_DURATION_MS + 2 * RETRY_PERIOD_MS + SLACK_MS,
    },
  );
}

describe('leader election', () => {
  test('exactly one of two managers reconciles; a killed leader is replaced, a stopped one hands over at once', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client, 'le');
    const a = await candidate(t, ns, 'candidate-a');
    const b = await candidate(t, ns, 'candidate-b');

    const first = await stampedBy(client, ns, 'one');
    const [leader, follower] = first === a.identity ? [a, b] : [b, a];
    assert.ok([a.identity, b.identity].includes(first!));
    assert.equal((await client.get(Leases, 'elected-mirror', ns)).spec?.holderIdentity, leader.identity);
    assert.equal(await masterStatus(leader), 1);
    assert.equal(await masterStatus(follower), 0);
    for (let i = 0; i < 3; i++)
      assert.equal(await stampedBy(client, ns, `more-${i}`), leader.identity, 'only the leader reconciles');

    // kill -9: no release; the follower waits out the lease, then takes over.
    leader.child.kill('SIGKILL');
    await once(leader.child, 'exit');
    assert.equal(await stampedBy(client, ns, 'after-kill'), follower.identity);
    assert.equal(await masterStatus(follower), 1);

    // A graceful stop releases the lease: the new candidate need not wait out the lease duration.
    const c = await candidate(t, ns, 'candidate-c');
    follower.child.kill('SIGTERM');
    const [code] = await once(follower.child, 'exit');
    assert.equal(code, 0, 'graceful stop exits 0');
    const lease = await client.get(Leases, 'elected-mirror', ns);
    assert.ok(
      lease.spec?.holderIdentity === '' || lease.spec?.holderIdentity === c.identity,
      `lease released on shutdown, holder is "${lease.spec?.holderIdentity}"`,
    );
    await waitFor(async () => (await masterStatus(c)) === 1, {
      description: 'the new candidate to take the released lease within a few retry periods',
      timeoutMs: 3 * RETRY_PERIOD_MS + SLACK_MS,
    });
    assert.equal(await stampedBy(client, ns, 'after-release'), c.identity);
  });
});

test('a lease namespace that does not exist is a logged error naming it, not a silent wait', async (t) => {
  const client = await testClient(t);
  const lines: { level: number; msg: string; namespace?: string }[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
        done();
      },
    }),
  );
  const missing = `no-such-ns-${process.pid}`;
  const elector = new LeaderElector({ client, leaseName: 'elected-mirror', leaseNamespace: missing, logger });
  const stop = new AbortController();
  const running = elector.run(stop.signal, { onStartedLeading: () => {}, onStoppedLeading: () => {} });
  t.after(async () => {
    stop.abort();
    await running;
  });
  const error = await waitFor(() => lines.find((l) => l.level >= 50), {
    description: 'an error about the lease namespace',
    timeoutMs: 10_000,
  });
  assert.equal(error.namespace, missing);
  assert.match(error.msg, new RegExp(`namespace ${missing} does not exist`));
  assert.equal(elector.isLeader(), false);
});

test('a leader whose API server stops answering steps down within the renew deadline, before a rival leads', async (t) => {
  const client = await testClient(t);
  const ns = await testNamespace(t, client, 'le-silent');
  const { proxy, kubeconfig } = await blackholeProxied(t);
  const cutOffClient = await KubeClient.load(kubeconfig);
  const logger = pino({ level: 'silent' });
  const stopA = new AbortController();
  const stopB = new AbortController();
  let aLost = 0;
  let bLed = 0;
  const a = new LeaderElector({
    client: cutOffClient,
    leaseName: 'silent',
    leaseNamespace: ns,
    identity: 'a',
    logger,
  });
  const b = new LeaderElector({ client, leaseName: 'silent', leaseNamespace: ns, identity: 'b', logger });
  const runA = a.run(stopA.signal, {
    onStartedLeading: (lost) =>
      lost.addEventListener('abort', () => {
        aLost = Date.now();
      }),
    onStoppedLeading: () => {},
  });
  await waitFor(() => a.isLeader(), { description: 'a to lead', timeoutMs: 10_000 });
  const runB = b.run(stopB.signal, {
    onStartedLeading: () => {
      bLed = Date.now();
    },
    onStoppedLeading: () => {},
  });
  t.after(async () => {
    // Refused from here on: a's release fails at once rather than waiting on silence.
    await proxy.stop();
    stopA.abort();
    stopB.abort();
    await Promise.all([runA, runB]);
    cutOffClient.close();
  });

  const silentAt = Date.now();
  proxy.goSilent();
  await waitFor(() => bLed > 0, {
    description: 'b to take the lease a can no longer renew',
    timeoutMs: LEASE_DURATION_MS + 3 * RETRY_PERIOD_MS + SLACK_MS,
  });
  assert.ok(
    aLost > 0 && aLost < bLed,
    aLost ? `a led until ${aLost - bLed} ms after b took over` : 'a never stepped down, yet b took over',
  );
  assert.ok(
    aLost - silentAt <= RENEW_DEADLINE_MS + SLACK_MS,
    `a stepped down ${aLost - silentAt} ms after its API server went silent`,
  );
});

test('a leader stopped while its renewal gets no answer stops its controllers at once', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-stop');
  const { proxy, kubeconfig } = await blackholeProxied(t);
  const mgr = new Manager({
    client: await KubeClient.load(kubeconfig),
    name: 'silent-stop',
    leaderElection: { leaseNamespace: ns },
    logger: pino({ level: 'silent' }),
  });
  let reconciling = false;
  let stoppedAt = 0;
  mgr
    .controller('waits-for-stop')
    .for(ConfigMaps, { namespace: ns })
    .reconcile(async (_req, ctx) => {
      reconciling = true;
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
      stoppedAt = Date.now();
    });
  await mgr.start();
  await admin.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'work', namespace: ns } });
  await waitFor(() => reconciling, { description: 'a reconcile in flight', timeoutMs: 30_000 });

  proxy.goSilent();
  // Anything sent now is the lease renewal (the reconcile sends nothing): it hangs.
  await waitFor(() => proxy.droppedBytes > 0, {
    description: 'a renewal to be sent to the silent server',
    timeoutMs: 2 * RETRY_PERIOD_MS + SLACK_MS,
  });
  const stopAt = Date.now();
  const stopped = mgr.stop();
  t.after(async () => {
    await proxy.stop(); // the lease release fails at once
    await stopped;
  });
  await waitFor(() => stoppedAt > 0, { description: 'the reconcile to be told to stop', timeoutMs: 15_000 });
  assert.ok(
    stoppedAt - stopAt < 3_000,
    `the controllers were told to stop ${stoppedAt - stopAt} ms after the manager was`,
  );
});

test('a lease won as the elector stops is released, though the answer to the winning write came too late', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-late');
  // A free lease: the candidate's first attempt writes it.
  await admin.create<Lease>({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'late', namespace: ns },
    spec: { holderIdentity: '', leaseDurationSeconds: 1 },
  });
  // The API server takes the winning write; its answer is still in transit when the stop comes.
  let written!: () => void;
  const wrote = new Promise<void>((resolve) => (written = resolve));
  let held = false;
  // Dedicated already: the elector takes it as it is.
  const lateAnswers = Object.create(admin.dedicated()) as KubeClient;
  lateAnswers.replace = async (obj, opts = {}) => {
    if (held) return admin.replace(obj, opts);
    held = true;
    await admin.replace(obj);
    written();
    return new Promise((_, reject) => {
      const signal = opts.signal!;
      signal.addEventListener('abort', () => reject(signal.reason), { once: true });
    });
  };
  const elector = new LeaderElector({
    client: lateAnswers,
    leaseName: 'late',
    leaseNamespace: ns,
    identity: 'late-winner',
    logger: pino({ level: 'silent' }),
  });
  const stop = new AbortController();
  let led = false;
  const running = elector.run(stop.signal, {
    onStartedLeading: () => {
      led = true;
    },
    onStoppedLeading: () => {},
  });
  await wrote;
  assert.equal((await admin.get(Leases, 'late', ns)).spec?.holderIdentity, 'late-winner');
  stop.abort(new Error('stopping'));
  await running;
  assert.equal(led, false, 'a candidate stopped before it knew it had won never leads');
  assert.equal(
    (await admin.get(Leases, 'late', ns)).spec?.holderIdentity,
    '',
    'the lease the stopped candidate won is given up, not left to expire',
  );
});

test('a leader whose every pooled socket is held by requests that hang still renews its lease', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-queued');
  const { proxy, kubeconfig } = await faultInjected(t);
  const client = await KubeClient.load(kubeconfig);
  const logger = pino({ level: 'silent' });
  const stop = new AbortController();
  let lost = false;
  const elector = new LeaderElector({
    client,
    leaseName: 'queued',
    leaseNamespace: ns,
    identity: 'a',
    logger,
  });
  const running = elector.run(stop.signal, {
    onStartedLeading: (signal) => signal.addEventListener('abort', () => (lost = true)),
    onStoppedLeading: () => {},
  });
  t.after(async () => {
    stop.abort();
    client.close();
    await running;
  });
  await waitFor(() => elector.isLeader(), { description: 'the elector to lead', timeoutMs: 10_000 });

  // Reads the server never answers take every socket of the pool, and more wait for one, as a
  // busy manager's reconciles do behind a slow API server.
  const hung = (r: SeenRequest) => r.method === 'GET' && r.url.includes('/configmaps/');
  const never = new Promise<void>(() => {});
  const held = MAX_REQUEST_SOCKETS + 8;
  for (let i = 0; i < held; i++) proxy.before(hung, () => never);
  for (let i = 0; i < held; i++) void client.get(ConfigMaps, `held-${i}`, ns).catch(() => {});
  await waitFor(() => proxy.count(hung) === MAX_REQUEST_SOCKETS, {
    description: 'the hanging reads to take every socket',
    timeoutMs: 10_000,
  });
  // Renewals spanning more than the renew deadline (and less than the held reads' 30 s).
  const renewals = new Set<string>();
  const spanning = Math.ceil(RENEW_DEADLINE_MS / RETRY_PERIOD_MS) + 2;
  await waitFor(
    async () => {
      const spec = (await admin.get(Leases, 'queued', ns)).spec;
      if (spec?.holderIdentity === 'a' && spec.renewTime) renewals.add(String(spec.renewTime));
      return renewals.size > spanning;
    },
    {
      description: `${spanning} renewals of the lease while the pool is held`,
      timeoutMs: spanning * (RETRY_PERIOD_MS + 1_000) + SLACK_MS,
    },
  );
  assert.equal(proxy.count(hung), MAX_REQUEST_SOCKETS, 'the reads beyond the pool still wait for a socket');
  assert.equal(lost, false, 'the leader stepped down though its API server answered its renewals');
  assert.equal(elector.isLeader(), true);
});

test('a lease won by a write that took most of the renew deadline is renewed in time: the leader stays', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-slow');
  await admin.create<Lease>({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'slow', namespace: ns },
    spec: { holderIdentity: '', leaseDurationSeconds: 1 },
  });
  const { proxy, kubeconfig } = await faultInjected(t);
  const client = await KubeClient.load(kubeconfig);
  // The winning write ends 3.5 s before the renew deadline: a whole retry period later, past it.
  const terms = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 4_000 };
  const slowMs = 6_500;
  const writes = (r: SeenRequest) => r.method === 'PUT' && r.url.includes('/leases/slow');
  proxy.before(writes, () => new Promise((resolve) => setTimeout(resolve, slowMs)));
  const stop = new AbortController();
  let lost = false;
  const elector = new LeaderElector({
    client,
    leaseName: 'slow',
    leaseNamespace: ns,
    identity: 'a',
    logger: pino({ level: 'silent' }),
    ...terms,
  });
  const running = elector.run(stop.signal, {
    onStartedLeading: (signal) => signal.addEventListener('abort', () => (lost = true)),
    onStoppedLeading: () => {},
  });
  t.after(async () => {
    stop.abort();
    client.close();
    await running;
  });
  await waitFor(() => elector.isLeader(), {
    description: 'the elector to win the lease',
    timeoutMs: slowMs + SLACK_MS,
  });
  await waitFor(() => lost || proxy.count(writes) >= 3, {
    description: 'two renewals after the slow write',
    timeoutMs: 2 * terms.retryPeriodMs + SLACK_MS,
  });
  assert.equal(lost, false, 'the leader stepped down after a write that succeeded, without trying again');
  assert.equal(elector.isLeader(), true);
});

/** Short terms, so that a test outlasts a lease in seconds rather than a quarter of a minute. */
const SHORT_TERMS = { leaseDurationMs: 8_000, renewDeadlineMs: 5_000, retryPeriodMs: 1_000 };

/**
 * A manager leading on `client` whose reconcile of ConfigMap `work` holds on past the stop until
 * `resume()`, then writes through its fenced client: a reconcile that drains slowly.
 */
function slowDrainingLeader(client: KubeClient, ns: string, identity: string, gracefulShutdownMs?: number) {
  const mgr = new Manager({
    client,
    name: 'drain',
    gracefulShutdownMs,
    leaderElection: { leaseNamespace: ns, identity, ...SHORT_TERMS },
    logger: pino({ level: 'silent' }),
  });
  const state: { reconciling: boolean; outcome?: 'written' | Error } = { reconciling: false };
  let resume!: () => void;
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  mgr
    .controller('slow-drain')
    .for(ConfigMaps, { namespace: ns })
    .reconcile(async (req, ctx) => {
      if (req.name !== 'work' || state.reconciling) return;
      state.reconciling = true;
      await resumed;
      try {
        await ctx.client.patch(ConfigMaps, req.name, req.namespace, {
          metadata: { annotations: { 'tutti.dev/written-by': identity } },
        });
        state.outcome = 'written';
      } catch (err) {
        state.outcome = err as Error;
      }
    });
  return { mgr, state, resume };
}

test('a stopping leader renews its lease while its reconciles drain; a rival leads only once it is released', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-drain');
  const clientA = await KubeClient.load(testKubeconfig());
  const clientB = await KubeClient.load(testKubeconfig());
  t.after(() => {
    clientA.close();
    clientB.close();
  });
  const a = slowDrainingLeader(clientA, ns, 'a');
  await a.mgr.start();
  t.after(() => {
    a.resume();
    return a.mgr.stop();
  });
  await waitFor(() => a.mgr.isLeader(), { description: 'a to lead', timeoutMs: 15_000 });
  const b = new Manager({
    client: clientB,
    name: 'drain',
    leaderElection: { leaseNamespace: ns, identity: 'b', ...SHORT_TERMS },
    logger: pino({ level: 'silent' }),
  });
  b.controller('idle')
    .for(ConfigMaps, { namespace: ns })
    .reconcile(async () => {});
  await b.start();
  t.after(() => b.stop());
  await admin.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'work', namespace: ns } });
  await waitFor(() => a.state.reconciling, {
    description: "a's reconcile to be under way",
    timeoutMs: 15_000,
  });

  const stopping = a.mgr.stop();
  // Past a whole lease duration of renewals by a, b never leads: the lease is a's while it drains.
  const renewals = new Set<string>();
  let bLedWhileDraining = false;
  const spanning = Math.ceil(SHORT_TERMS.leaseDurationMs / SHORT_TERMS.retryPeriodMs) + 2;
  await waitFor(
    async () => {
      if (b.isLeader()) bLedWhileDraining = true;
      const spec = (await admin.get(Leases, 'drain', ns)).spec;
      if (spec?.holderIdentity === 'a' && spec.renewTime) renewals.add(String(spec.renewTime));
      return renewals.size >= spanning;
    },
    {
      description: `${spanning} renewals of the lease by a while its reconcile drains`,
      timeoutMs: spanning * (SHORT_TERMS.retryPeriodMs + 1_000) + SLACK_MS,
    },
  );
  assert.equal(bLedWhileDraining, false, 'b led while a still drained its reconciles');
  a.resume();
  await stopping;
  assert.equal(
    a.state.outcome,
    'written',
    `a's draining reconcile could not write: ${String(a.state.outcome)}`,
  );
  assert.equal(
    (await admin.get(ConfigMaps, 'work', ns)).metadata?.annotations?.['tutti.dev/written-by'],
    'a',
  );
  await waitFor(() => b.isLeader(), {
    description: 'b to take the lease a released once drained',
    timeoutMs: 3 * SHORT_TERMS.retryPeriodMs + SLACK_MS,
  });
});

test("a lease lost while a stopping leader's reconciles drain trips the fence: their writes are refused", async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-drain-lost');
  const { proxy, kubeconfig } = await faultInjected(t);
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  const a = slowDrainingLeader(client, ns, 'a');
  await a.mgr.start();
  t.after(() => {
    a.resume();
    return a.mgr.stop();
  });
  await waitFor(() => a.mgr.isLeader(), { description: 'a to lead', timeoutMs: 15_000 });
  await admin.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'work', namespace: ns } });
  await waitFor(() => a.state.reconciling, {
    description: "a's reconcile to be under way",
    timeoutMs: 15_000,
  });

  const leaseRequests = (r: SeenRequest) => r.url.includes('/leases/');
  const stopping = a.mgr.stop();
  proxy.fail(leaseRequests, 100_000, 500);
  await waitFor(() => !a.mgr.isLeader(), {
    description: 'a to count itself deposed when its renewals fail while it drains',
    timeoutMs: SHORT_TERMS.renewDeadlineMs + SHORT_TERMS.retryPeriodMs + SLACK_MS,
  });
  a.resume();
  await waitFor(() => a.state.outcome, { description: "a's reconcile to try its write", timeoutMs: 15_000 });
  assert.ok(a.state.outcome instanceof Error, 'a wrote after it knew it had lost the lease');
  assert.match(a.state.outcome.message, /leader lease lost/);
  await stopping;
  assert.equal(
    (await admin.get(ConfigMaps, 'work', ns)).metadata?.annotations?.['tutti.dev/written-by'],
    undefined,
  );
});

test('a reconcile still draining when the graceful budget is spent is given up: its writes are refused and the lease released', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-drain-budget');
  const client = await KubeClient.load(testKubeconfig());
  t.after(() => client.close());
  const a = slowDrainingLeader(client, ns, 'a', 4_000);
  await a.mgr.start();
  t.after(() => {
    a.resume();
    return a.mgr.stop();
  });
  await waitFor(() => a.mgr.isLeader(), { description: 'a to lead', timeoutMs: 15_000 });
  await admin.create({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'work', namespace: ns } });
  await waitFor(() => a.state.reconciling, {
    description: "a's reconcile to be under way",
    timeoutMs: 15_000,
  });

  await a.mgr.stop();
  await waitFor(async () => (await admin.get(Leases, 'drain', ns)).spec?.holderIdentity === '', {
    description: 'the lease to be released',
    timeoutMs: SLACK_MS,
  });
  a.resume();
  await waitFor(() => a.state.outcome, { description: "a's reconcile to try its write", timeoutMs: 15_000 });
  assert.ok(a.state.outcome instanceof Error, 'work given up at the stop wrote after the lease was released');
  assert.match(a.state.outcome.message, /graceful stop gave up/);
});

/** Moves what Date.now() says by `offsetMs`, as a wall clock stepped by NTP or by hand, until the test ends. */
function stepWallClock(t: TestContext, offsetMs: number): void {
  const real = Date.now;
  Date.now = () => real() + offsetMs;
  t.after(() => {
    Date.now = real;
  });
}

test('a wall clock stepped forward neither deposes a healthy leader nor hands its lease to a standby', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-clock-forward');
  const { proxy, kubeconfig } = await faultInjected(t);
  const clientA = await KubeClient.load(testKubeconfig());
  const clientB = await KubeClient.load(kubeconfig);
  const logger = pino({ level: 'silent' });
  const terms = { leaseName: 'clock', leaseNamespace: ns, logger, ...SHORT_TERMS };
  const a = new LeaderElector({ client: clientA, identity: 'a', ...terms });
  const b = new LeaderElector({ client: clientB, identity: 'b', ...terms });
  const stop = new AbortController();
  let aLost = false;
  let bLed = false;
  const runA = a.run(stop.signal, {
    onStartedLeading: (lost) => lost.addEventListener('abort', () => (aLost = true)),
    onStoppedLeading: () => {},
  });
  let runB: Promise<void> | undefined;
  t.after(async () => {
    stop.abort();
    await Promise.all([runA, runB]);
    clientA.close();
    clientB.close();
  });
  await waitFor(() => a.isLeader(), { description: 'a to lead', timeoutMs: 15_000 });
  runB = b.run(stop.signal, {
    onStartedLeading: () => {
      bLed = true;
    },
    onStoppedLeading: () => {},
  });
  // Once b asks a second time, it has seen the lease held by a.
  const looks = (r: SeenRequest) => r.method === 'GET' && r.url.includes('/leases/clock');
  await waitFor(() => proxy.count(looks) >= 2, {
    description: 'b to have looked at the lease',
    timeoutMs: 4 * SHORT_TERMS.retryPeriodMs + SLACK_MS,
  });

  stepWallClock(t, 3_600_000);
  const renewals = new Set<string>();
  const spanning = Math.ceil(SHORT_TERMS.leaseDurationMs / SHORT_TERMS.retryPeriodMs) + 2;
  await waitFor(
    async () => {
      const spec = (await admin.get(Leases, 'clock', ns)).spec;
      if (spec?.holderIdentity === 'a' && spec.renewTime) renewals.add(String(spec.renewTime));
      return renewals.size > spanning;
    },
    {
      description: `${spanning} renewals by a after the clock was stepped`,
      timeoutMs: spanning * (SHORT_TERMS.retryPeriodMs + 1_000) + SLACK_MS,
    },
  );
  assert.equal(aLost, false, 'a stepped down when the wall clock jumped');
  assert.equal(bLed, false, 'b took a lease a kept renewing');
});

test('a leader whose wall clock is stepped back still steps down at the renew deadline when it cannot renew', async (t) => {
  const admin = await testClient(t);
  const ns = await testNamespace(t, admin, 'le-clock-back');
  const { proxy, kubeconfig } = await blackholeProxied(t);
  const client = await KubeClient.load(kubeconfig);
  const stop = new AbortController();
  let lost = false;
  const a = new LeaderElector({
    client,
    leaseName: 'clock',
    leaseNamespace: ns,
    identity: 'a',
    logger: pino({ level: 'silent' }),
    ...SHORT_TERMS,
  });
  const running = a.run(stop.signal, {
    onStartedLeading: (signal) => signal.addEventListener('abort', () => (lost = true)),
    onStoppedLeading: () => {},
  });
  t.after(async () => {
    await proxy.stop();
    stop.abort();
    await running;
    client.close();
  });
  await waitFor(() => a.isLeader(), { description: 'a to lead', timeoutMs: 15_000 });

  stepWallClock(t, -3_600_000);
  proxy.goSilent();
  // Not an hour later: a rival takes the lease once it has not changed for its duration.
  await waitFor(() => lost, {
    description: 'a to step down',
    timeoutMs: SHORT_TERMS.renewDeadlineMs + SHORT_TERMS.retryPeriodMs + SLACK_MS,
  });
});
