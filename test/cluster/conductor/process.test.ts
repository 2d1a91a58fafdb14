import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetworkIntents } from '../../../src/apis/intent.nephoran.com/network-intent.js';
import { freePort } from '../../../src/cluster/ports.js';
import { conductorCrds } from '../../../src/conductor/crds.js';
import { type Intent, networkIntentName } from '../../../src/conductor/intent.js';
import { installCrds } from '../../../src/runtime/crds.js';
import { waitFor } from '../../../src/runtime/wait.js';
import { testClient, testKubeconfig, testNamespace } from '../../support/cluster.js';
import { dropIntent, errorReports, handoffDir, intent, loopProcess, readState } from './support.js';

/** One sample of a metric from the exposition text (labels as written, e.g. `{result="created"}`). */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('configured by environment alone: the seed log lines, metrics, probes, and SIGTERM submitting what is batched', async (t) => {
  const client = await testClient(t);
  await installCrds(client, conductorCrds());
  const ns = await testNamespace(t, client, 'cl-env');
  const dirs = await handoffDir(t);
  const port = await freePort();
  const loop = loopProcess(t, testKubeconfig(), [], {
    CONDUCTOR_HANDOFF_DIR: dirs.dir,
    CONDUCTOR_ERROR_DIR: dirs.errors,
    CONDUCTOR_BATCH_SIZE: '3',
    // Go-style, and long: in this test only a full batch (or SIGTERM) sends anything.
    CONDUCTOR_BATCH_INTERVAL: '1m30s',
    CONDUCTOR_DEBOUNCE: '10ms',
    CONDUCTOR_WORKERS: '3',
    CONDUCTOR_METRICS_PORT: String(port),
  });
  const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);
  await waitFor(async () => (await get('/readyz').catch(() => undefined))?.status === 200, {
    description: '/readyz',
    timeoutMs: 120_000, // module loading alone takes tens of seconds on a loaded machine
  });
  assert.equal((await get('/healthz')).status, 200);

  // Log lines reach stderr up to 100 ms after they are made; /readyz may answer sooner.
  const startLines = [
    'Starting conductor-loop:',
    '  Watching:',
    '  Errors:',
    '  Mode:',
    '  Batch:',
    'Configuration:',
  ];
  await waitFor(() => startLines.every((l) => loop.messages(l).length > 0), {
    description: 'the start-up log lines',
    timeoutMs: 10_000,
  });
  assert.equal(loop.messages('Starting conductor-loop:').length, 1);
  assert.deepEqual(loop.messages('  Watching:'), [`  Watching: ${dirs.dir}`]);
  assert.deepEqual(loop.messages('  Errors:'), [`  Errors: ${dirs.errors}`]);
  assert.deepEqual(loop.messages('  Mode:'), ['  Mode: structured']);
  assert.deepEqual(loop.messages('  Batch:'), ['  Batch: size=3, interval=1m30s']);
  assert.deepEqual(loop.messages('Configuration:'), [
    `Configuration: workers=3, debounce=10ms, once=false, period=0s, metrics_port=${port}, processor=true`,
  ]);

  const docs = ['a', 'b', 'c'].map((x) => intent(ns, `env-${x}`));
  const paths: string[] = [];
  for (const [i, doc] of docs.entries()) paths.push(await dropIntent(dirs.dir, `intent-${i}.json`, doc));
  await dropIntent(dirs.dir, 'intent-bad.json', { ...intent(ns, 'bad'), source: 'test-user' });
  await waitFor(async () => Object.keys(await readState(dirs.dir)).length === 4, {
    description: 'the full batch and the invalid file recorded',
    timeoutMs: 60_000,
  });
  // The state file may be faster than the log lines too.
  const lines = (i: number) => {
    const name = networkIntentName(docs[i] as Intent);
    return [
      `Creating NetworkIntent CR: ${name} in namespace ${ns}`,
      `Successfully created NetworkIntent CR: ${ns}/${name}`,
      `Successfully processed: ${paths[i]}`,
    ];
  };
  await waitFor(() => docs.every((_, i) => lines(i).every((l) => loop.messages(l).length > 0)), {
    description: 'the seed log lines of the batch',
    timeoutMs: 10_000,
  });
  for (const i of docs.keys()) for (const l of lines(i)) assert.equal(loop.messages(l).length, 1, l);
  const record = loop.records.find((r) => String(r['msg']).startsWith('Successfully created'));
  assert.equal(record?.['level'], 'info');
  assert.equal(record?.['namespace'], ns, 'each record also carries its fields');
  assert.deepEqual((await errorReports(dirs.errors)).get('intent-bad.json')?.errors, [
    "at '/source': value must be one of 'user', 'planner', 'test', ''",
  ]);

  // One intent waits in a batch that neither fills nor times out; SIGTERM must submit it.
  const last = await dropIntent(dirs.dir, 'intent-last.json', intent(ns, 'env-last'));
  await waitFor(async () => sample(await (await get('/metrics')).text(), 'conductor_queue_depth') === 1, {
    description: 'the last intent accepted and batched',
    timeoutMs: 30_000,
  });
  const metrics = await (await get('/metrics')).text();
  assert.equal(sample(metrics, 'conductor_files_seen_total'), 4);
  assert.equal(sample(metrics, 'conductor_intents_submitted_total{result="created"}'), 3);
  assert.equal(sample(metrics, 'conductor_validation_failures_total{reason="ValidationFailed"}'), 1);
  assert.equal(sample(metrics, 'conductor_batch_size_count'), 1);
  assert.equal(sample(metrics, 'conductor_batch_size_sum'), 3);
  assert.equal(sample(metrics, 'conductor_file_to_cr_seconds_count'), 3);
  assert.match(metrics, /^# TYPE conductor_submit_errors_total counter$/m);
  assert.match(metrics, /^process_cpu_seconds_total /m);

  assert.equal(await loop.stop('SIGTERM'), 0);
  assert.equal(loop.messages(`Successfully processed: ${last}`).length, 1);
  assert.equal((await readState(dirs.dir))['intent-last.json']?.status, 'processed');
  assert.equal((await client.list(NetworkIntents, { namespace: ns })).items.length, 4);
  assert.equal(loop.messages('conductor-loop stopped').length, 1);
});
