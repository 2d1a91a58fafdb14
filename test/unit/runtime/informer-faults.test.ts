/**
 * The informer against a scripted API server: what its handlers and a controller see when a watch
 * breaks off or an object cannot be cached.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import type { KubeClient } from '../../../src/runtime/client/client.js';
import { ConfigMaps } from '../../../src/runtime/client/kinds.js';
import type { KubeObject } from '../../../src/runtime/client/types.js';
import { beyondStatus, Controller } from '../../../src/runtime/controller.js';
import { Informer } from '../../../src/runtime/informer.js';
import { waitFor } from '../../../src/runtime/wait.js';

/** ConfigMaps in namespace `ns`: lists what it holds; each watch replays every event after its resourceVersion. */
class FakeServer {
  private readonly items = new Map<string, KubeObject>();
  private readonly history: { type: string; object: KubeObject }[] = [];
  private readonly watches = new Set<{ stream: PassThrough; from: number }>();
  lists = 0;
  readonly client = {
    resourceInfo: async () => ({ namespaced: true }),
    list: async () => {
      this.lists++;
      return {
        items: [...this.items.values()].map((o) => structuredClone(o)),
        metadata: { resourceVersion: String(this.history.length) },
      };
    },
    watchStream: async (_kind: unknown, opts: { resourceVersion?: string; signal?: AbortSignal }) => {
      const watch = { stream: new PassThrough(), from: Number(opts.resourceVersion) };
      opts.signal?.addEventListener('abort', () => watch.stream.destroy(), { once: true });
      watch.stream.on('close', () => this.watches.delete(watch));
      this.watches.add(watch);
      for (const e of this.history.slice(watch.from)) watch.stream.write(`${JSON.stringify(e)}\n`);
      return watch.stream;
    },
  } as unknown as KubeClient;

  get watching(): number {
    return this.watches.size;
  }

  put(name: string, uid: string, data: Record<string, string> = {}): void {
    this.record(this.items.has(name) ? 'MODIFIED' : 'ADDED', name, uid, data);
  }

  remove(name: string): void {
    const o = this.items.get(name)!;
    this.record('DELETED', name, o.metadata!.uid!, (o as { data?: Record<string, string> }).data ?? {});
  }

  /** Ends every watch with a 410, as after a compaction: the informer must relist. */
  expire(): void {
    for (const w of this.watches)
      w.stream.write(`${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410 } })}\n`);
  }

  /** A change the watches do not hear of, as while they were cut off. */
  quietly(fn: () => void): void {
    const live = [...this.watches];
    this.watches.clear();
    fn();
    for (const w of live) this.watches.add(w);
  }

  private record(type: string, name: string, uid: string, data: Record<string, string>): void {
    const object = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: {
        name,
        namespace: 'ns',
        uid,
        generation: 1,
        resourceVersion: String(this.history.length + 1),
      },
      data,
    } as KubeObject;
    if (type === 'DELETED') this.items.delete(name);
    else this.items.set(name, object);
    this.history.push({ type, object });
    for (const w of this.watches) w.stream.write(`${JSON.stringify({ type, object })}\n`);
  }
}

const quiet = pino({ level: 'silent' });

function informer(server: FakeServer, transform?: (o: KubeObject) => KubeObject): Informer {
  return new Informer(server.client, ConfigMaps, {
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    logger: quiet,
    ...(transform ? { transform } : {}),
  });
}

test('an object deleted and made again under its name while the watch was away is a delete and an add', async (t) => {
  const server = new FakeServer();
  server.put('a', 'uid-1');
  const inf = informer(server);
  const seen: string[] = [];
  inf.addHandler({
    add: (o) => void seen.push(`add ${o.metadata!.uid}`),
    update: (o, n) => void seen.push(`update ${o.metadata!.uid} -> ${n.metadata!.uid}`),
    delete: (o) => void seen.push(`delete ${o.metadata!.uid}`),
  });
  inf.start();
  t.after(() => inf.stop());
  await inf.waitForSync();
  await waitFor(() => server.watching === 1, { description: 'the watch to open', timeoutMs: 5_000 });

  server.quietly(() => {
    server.remove('a');
    server.put('a', 'uid-2');
  });
  server.expire();
  await waitFor(() => seen.some((e) => e.endsWith('uid-2')), {
    description: 'the relist to replace the object',
    timeoutMs: 5_000,
  });
  assert.deepEqual(seen, ['add uid-1', 'delete uid-1', 'add uid-2']);
});

test('a controller that skips status-only updates reconciles an object made again during a relist gap', async (t) => {
  const server = new FakeServer();
  server.put('a', 'uid-1');
  const inf = informer(server);
  const controller = new Controller({
    name: 'recreated',
    client: server.client,
    informers: { informer: () => inf as never },
    logger: quiet,
  });
  const reconciled: string[] = [];
  controller
    .for(ConfigMaps, { updates: beyondStatus })
    .reconcile(async (req) => void reconciled.push(inf.get(req.key)?.metadata?.uid ?? 'gone'));
  const workers = controller.start();
  inf.start();
  t.after(async () => {
    await controller.stop();
    await workers;
    await inf.stop();
  });
  await inf.waitForSync();
  await waitFor(() => reconciled.includes('uid-1') && server.watching === 1, {
    description: 'the first object to be reconciled',
    timeoutMs: 5_000,
  });

  // Same name, same generation, same labels: only the uid tells the new object from the old.
  server.quietly(() => {
    server.remove('a');
    server.put('a', 'uid-2');
  });
  server.expire();
  await waitFor(() => reconciled.includes('uid-2'), {
    description: 'the object made again to be reconciled',
    timeoutMs: 5_000,
  });
});

test('an object whose transform throws is left out, and the informer goes on with the others', async (t) => {
  const server = new FakeServer();
  server.put('a', 'uid-a');
  const inf = informer(server, (o) => {
    if ((o as { data?: Record<string, string> }).data?.['broken']) throw new Error('cannot shape this one');
    return o;
  });
  const added: string[] = [];
  const deleted: string[] = [];
  inf.addHandler({
    add: (o) => void added.push(o.metadata!.name!),
    delete: (o) => void deleted.push(o.metadata!.name!),
  });
  inf.start();
  t.after(() => inf.stop());
  await inf.waitForSync();
  await waitFor(() => server.watching === 1, { description: 'the watch to open', timeoutMs: 5_000 });

  server.put('bad', 'uid-bad', { broken: 'yes' });
  server.put('b', 'uid-b');
  server.put('a', 'uid-a', { broken: 'now' });
  server.remove('b');
  server.put('c', 'uid-c');
  await waitFor(() => added.includes('c'), {
    description: 'the objects after the broken one to be cached',
    timeoutMs: 5_000,
  });
  assert.deepEqual(added, ['a', 'b', 'c']);
  assert.deepEqual(deleted, ['b']);
  // The last state it could cache is kept: a broken update is no deletion.
  assert.equal(inf.get('ns/a')?.metadata?.resourceVersion, '1');
  assert.equal(inf.get('ns/bad'), undefined);

  // A relist meets the broken objects too, and still syncs the rest.
  server.quietly(() => server.put('d', 'uid-d'));
  server.expire();
  await waitFor(() => added.includes('d'), { description: 'the relist to finish', timeoutMs: 5_000 });
  assert.deepEqual(deleted, ['b'], 'an object that could not be shaped again is not reported deleted');
  assert.equal(inf.get('ns/a')?.metadata?.resourceVersion, '1');
});

test('an informer whose transform throws on one listed object still syncs', async (t) => {
  const server = new FakeServer();
  server.put('a', 'uid-a');
  server.put('bad', 'uid-bad', { broken: 'yes' });
  const inf = informer(server, (o) => {
    if ((o as { data?: Record<string, string> }).data?.['broken']) throw new Error('cannot shape this one');
    return o;
  });
  inf.start();
  t.after(() => inf.stop());
  const synced = new AbortController();
  const timer = setTimeout(() => synced.abort(new Error('the informer never synced')), 5_000);
  t.after(() => clearTimeout(timer));
  await inf.waitForSync(synced.signal);
  assert.deepEqual(inf.keys(), ['ns/a']);
});
