import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import type { SelfSubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { Pod } from 'kubernetes-types/core/v1.js';
import { chromium } from 'playwright-core';
import { Jobs, Pods, Roles } from '../../../src/runtime/client/kinds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { sandboxJob } from '../../../src/sandbox/job.js';
import type { Run, RunEvent } from '../../../src/sandbox/service/runs.js';
import { CiFixerService } from '../../../src/sandbox/service/server.js';
import { testClient, testNamespace, twoContextKubeconfig } from '../../support/cluster.js';
import { startTutti } from '../../support/command.js';
import { TcpProxy } from '../../support/tcp-proxy.js';
import {
  ackedLinesScript,
  asApp,
  eventsWithIds,
  runEvents,
  sandboxNamespace,
  startService,
  workdir,
} from './support.js';

const CHROMIUM = '/usr/bin/chromium';

async function post(base: string, body: unknown, raw?: string) {
  const res = await fetch(`${base}/api/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: raw ?? JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A step's output on one stream, as the events carried it. */
function outputOf(stream: RunEvent[], index: number, which: 'stdout' | 'stderr'): string {
  return stream
    .map((e) => (e.type === 'output' && e.index === index && e.stream === which ? e.text : ''))
    .join('');
}

/** The events other than output: what a replay must give in the same order as the live stream. */
function withoutOutput(stream: RunEvent[]): RunEvent[] {
  return stream.filter((e) => e.type !== 'output');
}

/** Debian's Chromium, headless, closed after the test. */
async function launchChromium(t: TestContext) {
  const userDataDir = await mkdtemp(join(tmpdir(), 'sandbox-chromium-'));
  const browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  t.after(() => browser.close());
  return browser;
}

/** A git repository on this machine, which the sandbox (kwok's exec runs here) can clone. */
async function gitRepo(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sandbox-repo-'));
  await writeFile(join(dir, 'README.md'), 'hello from the repository\n');
  const git = (...args: string[]) =>
    execFileSync('git', args, {
      cwd: dir,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 't',
        GIT_AUTHOR_EMAIL: 't@e',
        GIT_COMMITTER_NAME: 't',
        GIT_COMMITTER_EMAIL: 't@e',
      },
    });
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'initial');
  return `file://${dir}`;
}

describe('ci-fixer service', () => {
  test('a run clones the repository, runs commands in order and stops at the first failure', async (t) => {
    const { base, ns, client } = await startService(t);
    const repo = await gitRepo();
    const created = await post(base, {
      repo,
      commands: ['cat README.md', 'echo broken >&2; exit 3', 'echo never'],
    });
    assert.equal(created.status, 201);
    const id = created.body['id'] as string;

    const stream = await runEvents(base, id);
    const steps = stream.filter((e) => e.type === 'step-end');
    assert.deepEqual(
      steps.map((e) => [e.status, e.exitCode]),
      [
        ['succeeded', 0],
        ['succeeded', 0],
        ['failed', 3],
        ['skipped', undefined],
      ],
    );
    assert.equal(outputOf(stream, 1, 'stdout'), 'hello from the repository\n');
    assert.equal(outputOf(stream, 2, 'stderr'), 'broken\n');
    assert.deepEqual(stream.at(-1), { type: 'end', status: 'failed' });

    const run = (await (await fetch(`${base}/api/runs/${id}`)).json()) as Run;
    assert.equal(run.status, 'failed');
    assert.equal(run.steps[0]?.command, `git clone --depth 1 ${repo} .`);
    assert.equal(run.steps[3]?.status, 'skipped');
    const list = (await (await fetch(`${base}/api/runs`)).json()) as {
      runs: { id: string; status: string }[];
    };
    assert.deepEqual(
      list.runs.map((r) => [r.id, r.status]),
      [[id, 'failed']],
    );
    // A late subscriber gets the whole history: the same events, each step's output in one piece.
    const late = await runEvents(base, id);
    assert.deepEqual(withoutOutput(late), withoutOutput(stream));
    for (const [index, step] of run.steps.entries()) {
      for (const which of ['stdout', 'stderr'] as const) {
        assert.equal(outputOf(late, index, which), outputOf(stream, index, which), `step ${index} ${which}`);
        assert.equal(step[which], outputOf(stream, index, which));
      }
    }
    // The sandbox is gone once the run ended.
    await waitFor(async () => (await client.list(Jobs, { namespace: ns })).items.length === 0, {
      description: 'the run sandbox Job to be deleted',
      timeoutMs: 30_000,
    });

    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /ci_fixer_runs_total\{result="failed"\} 1/);
    await waitFor(async () => /ci_fixer_runs_active 0/.test(await (await fetch(`${base}/metrics`)).text()), {
      description: 'the sandbox slot to be free again (ci_fixer_runs_active 0)',
      timeoutMs: 30_000,
    });
    assert.match(metrics, /process_cpu_user_seconds_total/);
  });

  test('output is streamed line by line while the step still runs', async (t) => {
    const { base } = await startService(t);
    const gates = await workdir();
    // Each line waits for the test to have received the previous one as an event.
    const step = ackedLinesScript(gates);
    const created = await post(base, { commands: [step, 'echo after'] });
    assert.equal(created.status, 201);
    const id = created.body['id'] as string;
    const seen: string[] = [];
    const stream = await runEvents(base, id, (e) => {
      if (e.type === 'step-end') seen.push(`step-end ${e.index}`);
      if (e.type !== 'output') return;
      for (const line of e.text.split('\n').filter(Boolean)) {
        seen.push(`${e.index} ${e.stream}: ${line}`);
        const n = /^line (\d)$/.exec(line)?.[1];
        if (n) void writeFile(join(gates, `ack-${n}`), '');
      }
    });
    assert.deepEqual(stream.at(-1), { type: 'end', status: 'succeeded' }, outputOf(stream, 0, 'stderr'));
    assert.deepEqual(seen, [
      '0 stdout: line 1',
      '0 stdout: line 2',
      '0 stdout: line 3',
      'step-end 0',
      '1 stdout: after',
      'step-end 1',
    ]);
    const run = (await (await fetch(`${base}/api/runs/${id}`)).json()) as Run;
    assert.equal(run.steps[0]?.stdout, 'line 1\nline 2\nline 3\n');
  });

  test("output past a run's limit is streamed but not kept; finished runs past the history's byte limit are forgotten, oldest first", async (t) => {
    const { base } = await startService(t, { runOutputBytes: 1000, historyBytes: 2500 });
    const finished = async (commands: string[]) => {
      const created = await post(base, { commands });
      assert.equal(created.status, 201);
      const id = created.body['id'] as string;
      return { id, stream: await runEvents(base, id) };
    };
    const chatty = await finished(["head -c 3000 /dev/zero | tr '\\0' x", 'echo next']);
    const marker = "\n[output truncated: 2000 bytes not kept, past the run's limit of 1000 bytes]\n";
    assert.equal(outputOf(chatty.stream, 0, 'stdout'), `${'x'.repeat(3000)}${marker}`);
    const run = (await (await fetch(`${base}/api/runs/${chatty.id}`)).json()) as Run;
    assert.equal(run.status, 'succeeded');
    assert.equal(run.outputTruncated, true);
    assert.equal(run.steps[0]?.stdout, `${'x'.repeat(1000)}${marker}`);
    assert.equal(run.steps[0]?.truncated, true);
    assert.equal(
      run.steps[1]?.stdout,
      "\n[output truncated: 5 bytes not kept, past the run's limit of 1000 bytes]\n",
    );
    // A late subscriber gets what was kept.
    assert.equal(outputOf(await runEvents(base, chatty.id), 0, 'stdout'), run.steps[0]?.stdout);

    // 1000 bytes each: with the chatty run's 1000, the history passes 2500, and the oldest goes.
    const second = await finished(['head -c 1000 /dev/zero']);
    assert.equal((await fetch(`${base}/api/runs/${chatty.id}`)).status, 200);
    const third = await finished(['head -c 1000 /dev/zero']);
    assert.equal((await fetch(`${base}/api/runs/${chatty.id}`)).status, 404);
    assert.equal((await fetch(`${base}/api/runs/${chatty.id}/events`)).status, 404);
    const list = (await (await fetch(`${base}/api/runs`)).json()) as { runs: { id: string }[] };
    assert.deepEqual(
      list.runs.map((r) => r.id),
      [third.id, second.id],
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /ci_fixer_runs_forgotten_total\{reason="history-bytes"\} 1\n/);
    assert.match(metrics, /ci_fixer_output_dropped_bytes_total 2005\n/);
    assert.match(metrics, /ci_fixer_history_output_bytes 2000\n/);
  });

  test("a step's output is kept and streamed whole up to the run's limit, past the sandbox's own 1 MiB default", async (t) => {
    // 16 MiB by default: a verbose step of a few MiB is nothing to cut.
    const { base } = await startService(t);
    const size = 3 * 1024 * 1024;
    const created = await post(base, { commands: [`head -c ${size} /dev/zero | tr '\\0' x`] });
    assert.equal(created.status, 201);
    const id = created.body['id'] as string;
    const stream = await runEvents(base, id);
    const streamed = outputOf(stream, 0, 'stdout');
    assert.equal(streamed.length, size, 'every byte is streamed');
    assert.doesNotMatch(streamed.slice(-200), /truncated/);
    const run = (await (await fetch(`${base}/api/runs/${id}`)).json()) as Run;
    assert.equal(run.status, 'succeeded');
    assert.equal(run.steps[0]?.stdout, 'x'.repeat(size));
    assert.equal(run.steps[0]?.truncated, undefined);
    assert.equal(run.outputTruncated, undefined);
  });

  test('an event stream whose client stops reading is disconnected once it falls behind, and a new one gets the run', async (t) => {
    const { base } = await startService(t, { eventStreamBufferBytes: 64 * 1024 });
    const gate = join(await workdir(), 'go');
    t.after(() => writeFile(gate, ''));
    // 8 MiB, written only once the client is connected: more than the sockets hold.
    const size = 8 * 1024 * 1024;
    const created = await post(base, {
      commands: [
        `i=0; while [ ! -f ${gate} ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done; head -c ${size} /dev/zero | tr '\\0' x`,
      ],
    });
    assert.equal(created.status, 201);
    const id = created.body['id'] as string;
    const url = new URL(base);
    const socket = connect(Number(url.port), url.hostname);
    t.after(() => socket.destroy());
    await once(socket, 'connect');
    socket.write(
      `GET /api/runs/${id}/events HTTP/1.1\r\nhost: ${url.host}\r\naccept: text/event-stream\r\n\r\n`,
    );
    // The client reads nothing from here on.
    socket.pause();
    await writeFile(gate, '');
    await waitFor(
      async () =>
        /ci_fixer_event_streams_dropped_total 1\n/.test(await (await fetch(`${base}/metrics`)).text()),
      { description: 'the service to drop the stream of the client that does not read', timeoutMs: 60_000 },
    );
    // What the sockets held still arrives, then the stream ends, cut short without its end event.
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.resume();
    await once(socket, 'close');
    const received = Buffer.concat(chunks).toString('utf8');
    assert.match(received, /^HTTP\/1\.1 200 /);
    assert.doesNotMatch(received, /"type":"end"/);
    assert.ok(received.length < size, `${received.length} bytes arrived, not all ${size}`);
    // A new subscriber gets the whole run (once it is over: one reading slower than the command
    // writes would fall 64 KiB behind too).
    await waitFor(
      async () => ((await (await fetch(`${base}/api/runs/${id}`)).json()) as Run).status === 'succeeded',
      {
        description: `run ${id} to succeed`,
        timeoutMs: 60_000,
      },
    );
    const stream = await runEvents(base, id);
    assert.equal(outputOf(stream, 0, 'stdout').length, size);
    assert.deepEqual(stream.at(-1), { type: 'end', status: 'succeeded' });
  });

  test('an event stream reconnecting with Last-Event-ID resumes after that event: nothing missed or repeated', async (t) => {
    const { base } = await startService(t);
    const gates = await workdir();
    const created = await post(base, { commands: [ackedLinesScript(gates), 'echo after'] });
    assert.equal(created.status, 201);
    const id = created.body['id'] as string;
    const lineOf = (e: RunEvent) => (e.type === 'output' ? e.text : '');
    // The first connection drops once line 1 came.
    const first = await eventsWithIds(base, id, {}, (e) => lineOf(e).includes('line 1'));
    await writeFile(join(gates, 'ack-1'), '');
    await writeFile(join(gates, 'ack-2'), '');
    await writeFile(join(gates, 'ack-3'), '');
    const rest = await eventsWithIds(base, id, { 'last-event-id': first.at(-1)!.id });
    const all = [...first, ...rest].map((g) => g.event);
    assert.equal(outputOf(all, 0, 'stdout'), 'line 1\nline 2\nline 3\n');
    assert.equal(outputOf(all, 1, 'stdout'), 'after\n');
    assert.deepEqual(
      withoutOutput(all).map((e) => e.type),
      ['status', 'status', 'step-start', 'step-end', 'step-start', 'step-end', 'status', 'end'],
    );
    assert.deepEqual(rest.at(-1)?.event, { type: 'end', status: 'succeeded' });
    // After the end event there is nothing more: 204 stops an EventSource from reconnecting.
    const ended = await fetch(`${base}/api/runs/${id}/events`, {
      headers: { 'last-event-id': rest.at(-1)!.id },
    });
    assert.equal(ended.status, 204);
    const bad = await fetch(`${base}/api/runs/${id}/events`, { headers: { 'last-event-id': '99' } });
    assert.equal(bad.status, 400);
    assert.deepEqual(await bad.json(), {
      error: `Last-Event-ID "99" is not an event id of run ${id}`,
      field: 'last-event-id',
    });
  });

  test('bad requests get 400 naming the field; unknown runs 404', async (t) => {
    const { base } = await startService(t);
    for (const [body, field] of [
      [{}, 'commands'],
      [{ commands: [] }, 'commands'],
      [{ commands: ['ok', ''] }, 'commands[1]'],
      [{ commands: ['ok'], image: 'UPPER CASE' }, 'image'],
      [{ commands: ['ok'], repo: 'not a url' }, 'repo'],
    ] as const) {
      const r = await post(base, body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(r.body['field'], field);
      assert.match(r.body['error'] as string, new RegExp(`^${field.replace(/[[\]]/g, '\\$&')}: `));
    }
    const invalidJson = await post(base, undefined, '{"commands": [');
    assert.equal(invalidJson.status, 400);
    assert.equal(invalidJson.body['field'], 'body');
    assert.equal((await fetch(`${base}/api/runs/run-nope`)).status, 404);
    assert.equal((await fetch(`${base}/api/runs/run-nope/events`)).status, 404);
  });

  test('an oversized body gets 413 and closes its connection, so the next request on a fresh one succeeds', async (t) => {
    const { base } = await startService(t);
    // One kept-alive socket at a time, as a client with a connection pool reuses it.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const request = (method: string, body?: string) =>
      new Promise<{ status: number; text: string; connection?: string }>((resolve, reject) => {
        const req = httpRequest(
          `${base}/api/runs`,
          { method, agent, headers: body === undefined ? {} : { 'content-type': 'application/json' } },
          (res) => {
            let text = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              text += chunk;
            });
            res.on('end', () =>
              resolve({ status: res.statusCode ?? 0, text, connection: res.headers.connection }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    for (let i = 0; i < 3; i++) {
      const big = await request('POST', JSON.stringify({ commands: ['x'.repeat(2 * 1024 * 1024)] }));
      assert.equal(big.status, 413);
      assert.equal(big.connection, 'close');
      assert.match(big.text, /"body: larger than 1048576 bytes"/);
      const next = await request('GET');
      assert.equal(next.status, 200, 'the request after a 413 is answered');
    }
  });

  test('at most maxConcurrent sandboxes run at once; the rest queue, and a full queue answers 429', async (t) => {
    const gate = await workdir();
    const { base, ns, client } = await startService(t, { maxConcurrent: 2, maxQueued: 3 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await post(base, {
        commands: [`while [ ! -f ${gate}/go ]; do sleep 0.1; done; echo run-${i}`],
      });
      assert.equal(r.status, 201);
      ids.push(r.body['id'] as string);
    }
    const full = await post(base, { commands: ['true'] });
    assert.equal(full.status, 429);

    const statuses = async () =>
      ((await (await fetch(`${base}/api/runs`)).json()) as { runs: { id: string; status: string }[] }).runs;
    await waitFor(
      async () => {
        const runs = await statuses();
        return runs.filter((r) => r.status === 'running').length === 2 ? runs : undefined;
      },
      { description: 'two runs to be running', timeoutMs: 30_000 },
    );
    const queued = (await statuses()).filter((r) => r.status === 'queued').map((r) => r.id);
    assert.deepEqual(queued.sort(), ids.slice(2).sort(), 'the later runs wait, in order');
    assert.ok((await client.list(Jobs, { namespace: ns })).items.length <= 2);

    await writeFile(join(gate, 'go'), '');
    const outputs = await Promise.all(ids.map((id) => runEvents(base, id)));
    outputs.forEach((stream, i) => {
      assert.deepEqual(stream.at(-1), { type: 'end', status: 'succeeded' });
      assert.equal(outputOf(stream, 0, 'stdout'), `run-${i}\n`);
    });
  });

  test('a sandbox whose teardown the API server refused keeps its slot until it is gone, so no more than maxConcurrent exist', async (t) => {
    const gate = await workdir();
    const { base, ns, client } = await startService(t, { maxConcurrent: 1 });
    const app = asApp(client, ns);
    const role = 'ci-fixer-sandbox-manager';
    const canDeleteJobs = async () =>
      (
        await app.create<SelfSubjectAccessReview>({
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes: { namespace: ns, group: 'batch', resource: 'jobs', verb: 'delete' } },
        })
      ).status?.allowed === true;
    const setJobVerbs = (verbs: string[]) =>
      client.patch(Roles, role, ns, [{ op: 'replace', path: '/rules/0/verbs', value: verbs }], 'json');
    await setJobVerbs(['create', 'get', 'list']);
    await waitFor(async () => !(await canDeleteJobs()), {
      description: 'job deletion to be refused',
      timeoutMs: 15_000,
    });

    const first = await post(base, { commands: ['true'] });
    await waitFor(
      async () => {
        const run = (await (await fetch(`${base}/api/runs/${first.body['id']}`)).json()) as Run;
        return run.status === 'succeeded';
      },
      { description: 'the first run to finish', timeoutMs: 30_000 },
    );
    const second = await post(base, { commands: [`while [ ! -f ${gate}/go ]; do sleep 0.05; done`] });
    // Released however this ends: stopping the service waits for the run.
    try {
      await setJobVerbs(['create', 'get', 'list', 'delete']);
      await waitFor(
        async () => {
          const run = (await (await fetch(`${base}/api/runs/${second.body['id']}`)).json()) as Run;
          return run.steps[0]?.status === 'running';
        },
        { description: 'the second run to be running', timeoutMs: 60_000 },
      );
      const sandboxOf = async (id: unknown) =>
        ((await (await fetch(`${base}/api/runs/${id}`)).json()) as Run).sandbox;
      const jobs = (await client.list(Jobs, { namespace: ns })).items.map((j) => j.metadata?.name);
      assert.deepEqual(
        jobs,
        [await sandboxOf(second.body['id'])],
        `the first run's ${await sandboxOf(first.body['id'])} is gone`,
      );
    } finally {
      await writeFile(join(gate, 'go'), '');
    }
    assert.deepEqual((await runEvents(base, second.body['id'] as string)).at(-1), {
      type: 'end',
      status: 'succeeded',
    });
  });

  test("sandbox Jobs are owned by the service's Pod: deleting the Pod deletes them, and a restart removes its leftovers", async (t) => {
    const admin = await testClient(t);
    const { ns: podNs } = await sandboxNamespace(t, admin);
    // The service's Pod, as the chart passes it through the downward API.
    const pod = await admin.create<Pod>({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'ci-fixer-app-0', namespace: podNs },
      spec: {
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
    const owner = { name: pod.metadata!.name!, uid: pod.metadata!.uid! };
    const app = asApp(admin, podNs);
    const dir = await workdir();
    const service = new CiFixerService({
      client: app,
      namespace: podNs,
      port: 0,
      host: '127.0.0.1',
      workdir: dir,
      pod: owner,
    });
    const base = `http://127.0.0.1:${await service.start()}`;
    const gate = join(dir, 'go');
    t.after(async () => {
      await writeFile(gate, '');
      await service.stop();
    });
    const r = await post(base, { commands: [`while [ ! -f ${gate} ]; do sleep 0.1; done`] });
    assert.equal(r.status, 201);
    const job = await waitFor(
      async () =>
        (await admin.list(Jobs, { namespace: podNs, labelSelector: 'app=ci-fixer-sandbox' })).items[0],
      { description: 'the run to create its sandbox Job', timeoutMs: 30_000 },
    );
    assert.deepEqual(
      job.metadata?.ownerReferences?.map((o) => `${o.kind}/${o.name}/${o.uid}`),
      [`Pod/${owner.name}/${owner.uid}`],
    );

    // A restart of the container (same Pod) finds a sandbox the killed process left behind, and
    // deletes it; another Pod's sandbox is not its own and stays.
    const leftover = sandboxJob({ name: 'leftover', namespace: podNs, image: 'busybox' });
    leftover.metadata!.ownerReferences = [{ apiVersion: 'v1', kind: 'Pod', ...owner }];
    await admin.create(leftover);
    await admin.create(sandboxJob({ name: 'not-ours', namespace: podNs, image: 'busybox' }));
    const restarted = new CiFixerService({
      client: app,
      namespace: podNs,
      port: 0,
      host: '127.0.0.1',
      pod: owner,
    });
    await restarted.start();
    await restarted.stop();
    await waitFor(async () => !(await admin.find(Jobs, 'leftover', podNs)), {
      description: 'the leftover sandbox Job to be deleted',
      timeoutMs: 30_000,
    });
    assert.ok(await admin.find(Jobs, 'not-ours', podNs), "another Pod's sandbox Job is left alone");
    // Leftovers are cleaned up on a best-effort basis: a service that may not list them still starts.
    const elsewhere = await testNamespace(t, admin, 'nolist');
    const unlisted = new CiFixerService({
      client: app,
      namespace: elsewhere,
      port: 0,
      host: '127.0.0.1',
      pod: owner,
    });
    assert.ok((await unlisted.start()) > 0);
    await unlisted.stop();

    // The Pod goes (rolling update, eviction, node loss) while the run holds its sandbox.
    await admin.delete(Pods, owner.name, podNs, { gracePeriodSeconds: 0 });
    await waitFor(
      async () =>
        !(await admin.find(Jobs, job.metadata!.name!, podNs)) &&
        (await admin.list(Pods, { namespace: podNs, labelSelector: `job-name=${job.metadata!.name}` })).items
          .length === 0,
      { description: 'the garbage collector to delete the sandbox Job and its Pod', timeoutMs: 60_000 },
    );
  });

  test('stop() returns while a client holds a connection open without a request', async (t) => {
    const { base, service } = await startService(t);
    // As a browser does when it opens a spare connection ahead of its next request. Waiting for
    // such a connection to end held stop() until Node's 300 s request timeout.
    const url = new URL(base);
    const spare = connect(Number(url.port), url.hostname);
    t.after(() => spare.destroy());
    await once(spare, 'connect');
    const stopped = await Promise.race([
      service.stop().then(() => true),
      new Promise<false>((resolve) => setTimeout(resolve, 15_000, false).unref()),
    ]);
    assert.ok(stopped, 'stop() returned within 15 s');
    await once(spare, 'close');
  });

  test('the web page starts a run, streams its output and shows a step its Pod was lost under, in Chromium', async (t) => {
    const { base, ns, client } = await startService(t);
    const browser = await launchChromium(t);
    const page = await browser.newPage();
    await page.goto(base);
    const gate = join(await workdir(), 'go');
    await page.fill(
      'textarea[name=commands]',
      `echo hello-from-the-browser; i=0; while [ ! -f ${gate} ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done\necho second-step >&2`,
    );
    await page.click('button[type=submit]');
    // The first line shows while its step still waits: the page streams, it does not wait for the end.
    await page.waitForFunction(
      "document.getElementById('output').textContent.includes('hello-from-the-browser\\n')",
      null,
      { timeout: 60_000 },
    );
    assert.equal(await page.textContent('#run-status'), 'running');
    assert.doesNotMatch((await page.textContent('#output')) ?? '', /\[exit/);
    await writeFile(gate, '');
    await page.waitForFunction("document.getElementById('run-status').textContent === 'succeeded'", null, {
      timeout: 60_000,
    });
    const output = await page.textContent('#output');
    assert.match(output ?? '', /\$ echo hello-from-the-browser;.*\nhello-from-the-browser\n\[exit 0\]/);
    assert.match(output ?? '', /second-step/);
    await page.waitForSelector('#runs li .status.succeeded', { timeout: 10_000 });
    assert.equal(await page.locator('#runs li').count(), 1);

    // A step whose Pod is deleted under it shows as interrupted, naming why, not as skipped or exited.
    const hold = join(await workdir(), 'go');
    t.after(() => writeFile(hold, ''));
    await page.fill(
      'textarea[name=commands]',
      `echo held; i=0; while [ ! -f ${hold} ] && [ $i -lt 1200 ]; do i=$((i+1)); sleep 0.05; done\necho never`,
    );
    await page.click('button[type=submit]');
    await page.waitForFunction("document.getElementById('output').textContent.includes('held\\n')", null, {
      timeout: 60_000,
    });
    const { runs } = (await (await fetch(`${base}/api/runs`)).json()) as { runs: Run[] };
    const pods = await client.list(Pods, { namespace: ns, labelSelector: `job-name=${runs[0]!.sandbox}` });
    await client.delete(Pods, pods.items[0]!.metadata!.name!, ns);
    await page.waitForFunction("document.getElementById('run-status').textContent === 'error'", null, {
      timeout: 60_000,
    });
    const lost = (await page.textContent('#output')) ?? '';
    assert.match(lost, /\nheld\n\[interrupted: sandbox \S+: pod \S+ .*was deleted/);
    assert.doesNotMatch(lost, /\[exit|never/);

    // A bad request shows the server's message naming the field.
    await page.fill('input[name=image]', 'Bad Image');
    await page.click('button[type=submit]');
    await page.waitForFunction("/^image: /.test(document.getElementById('form-error').textContent)", null, {
      timeout: 10_000,
    });
  });

  test('the web page whose event stream is cut mid-run reconnects and shows each line once, in Chromium', async (t) => {
    const { base } = await startService(t);
    // The browser reaches the service through a proxy the test cuts: a dropped connection.
    const proxy = new TcpProxy({ host: '127.0.0.1', port: Number(new URL(base).port) });
    await proxy.start();
    t.after(() => proxy.stop());
    const browser = await launchChromium(t);
    const page = await browser.newPage();
    await page.goto(`http://127.0.0.1:${proxy.port}`);
    const gates = await workdir();
    t.after(() => Promise.all([1, 2, 3].map((n) => writeFile(join(gates, `ack-${n}`), ''))));
    await page.fill('textarea[name=commands]', `${ackedLinesScript(gates)}\necho after`);
    await page.click('button[type=submit]');
    const shows = (text: string) =>
      page.waitForFunction(
        `document.getElementById('output').textContent.includes(${JSON.stringify(text)})`,
        null,
        {
          timeout: 60_000,
        },
      );
    await shows('line 1\n');
    proxy.cut();
    await writeFile(join(gates, 'ack-1'), '');
    proxy.restore();
    await shows('line 2\n');
    await writeFile(join(gates, 'ack-2'), '');
    await writeFile(join(gates, 'ack-3'), '');
    await page.waitForFunction("document.getElementById('run-status').textContent === 'succeeded'", null, {
      timeout: 60_000,
    });
    const output = (await page.textContent('#output')) ?? '';
    assert.equal(
      output,
      `$ ${ackedLinesScript(gates)}\nline 1\nline 2\nline 3\n[exit 0]\n$ echo after\nafter\n[exit 0]\n`,
    );
  });

  test('tutti sandbox serve: the flags reach the service, a chosen context included, and SIGTERM stops it', async (t) => {
    const client = await testClient(t);
    const ns = await testNamespace(t, client, 'serve');
    const kubeconfig = await twoContextKubeconfig(t);
    const serve = await startTutti(
      t,
      [
        'sandbox',
        'serve',
        '--port',
        '0',
        '--namespace',
        ns,
        '--kubeconfig',
        kubeconfig,
        '--context',
        'plane',
        '--max-concurrent',
        '2',
        '--sandbox-startup-timeout',
        '2s',
      ],
      /ci-fixer: listening on :(\d+)/,
    );
    const port = serve.ready[1];
    const base = `http://127.0.0.1:${port}`;
    // Ready only when the API server answers: the current context's server does not.
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const bad = await fetch(`${base}/api/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ repo: 'https://git.example/r.git', commands: [] }),
    });
    assert.equal(bad.status, 400);
    assert.match(await (await fetch(`${base}/metrics`)).text(), /ci_fixer_runs_active 0/);
    // The namespace has no ci-fixer-sandbox ServiceAccount: the Job makes no Pod, and the run
    // fails at the startup timeout given, naming the cause.
    const stuck = await post(base, { commands: ['true'] });
    assert.equal(stuck.status, 201);
    const failed = await waitFor(
      async () => {
        const run = (await (await fetch(`${base}/api/runs/${stuck.body['id']}`)).json()) as Run;
        return run.status === 'error' ? run : undefined;
      },
      { description: 'the run to fail at the sandbox startup timeout', timeoutMs: 30_000 },
    );
    assert.match(failed.error ?? '', /its Pod was not Running within 2000 ms: the Job created no Pod/);
    assert.equal(await serve.stop(), 0, serve.output());
    assert.match(serve.output(), /shutting down; running runs finish first/);
  });
});
