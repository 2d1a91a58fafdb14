import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INTENT_PATH } from '../../../src/gitops/tmf921/intent.js';
import { IntentServer } from '../../../src/gitops/tmf921/server.js';
import type { IntentService } from '../../../src/gitops/tmf921/service.js';

test('a malformed percent-escape in an intent id is a 400 naming the id, not a 500', async (t) => {
  // Never reached: the request is refused before any intent is looked up.
  const service = {} as IntentService;
  const server = new IntentServer(service);
  const port = await server.start(0);
  t.after(() => server.stop());
  for (const method of ['GET', 'DELETE']) {
    const res = await fetch(`http://127.0.0.1:${port}${INTENT_PATH}/bad%E0id`, { method });
    assert.equal(res.status, 400, method);
    const body = (await res.json()) as { reason: string; message: string };
    assert.equal(body.reason, 'Bad Request');
    assert.match(body.message, /^id: "bad%E0id" is not a valid percent-encoded path segment/);
  }
});

test('a body with a key given twice is a 400 naming the key, not read last-wins', async (t) => {
  // Never reached: the body is refused before any intent is made.
  const server = new IntentServer({} as IntentService);
  const port = await server.start(0);
  t.after(() => server.stop());
  const res = await fetch(`http://127.0.0.1:${port}${INTENT_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"intent": "x",\n "requirements": {"latency": "<1ms", "latency": "<50ms"}}',
  });
  assert.equal(res.status, 400);
  const body = (await res.json()) as { message: string };
  assert.match(
    body.message,
    /^\(body\): is not valid JSON: duplicate key "latency" at \/requirements\/latency \(line 2, column 38\)/,
  );
});

/** A service whose DELETE is held until the test finishes it: a request under way at a stop. */
function heldDeletes() {
  let reach = () => {};
  let finish: (result: { found: boolean; published: boolean }) => void = () => {};
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const service = {
    delete: () => {
      reach();
      return new Promise((resolve) => (finish = resolve));
    },
  } as unknown as IntentService;
  return { service, reached, finish: (result: { found: boolean; published: boolean }) => finish(result) };
}

test('stopping the server lets a DELETE under way finish and be answered, and accepts no new request', async (t) => {
  const { service, reached, finish } = heldDeletes();
  const server = new IntentServer(service);
  const port = await server.start(0);
  t.after(() => server.stop(0));
  const base = `http://127.0.0.1:${port}${INTENT_PATH}`;
  // An idle keep-alive connection does not hold the stop up.
  assert.equal((await fetch(`http://127.0.0.1:${port}/elsewhere`)).status, 404);

  const withdrawing = fetch(`${base}/a1`, { method: 'DELETE' });
  await reached;
  const stopped = server.stop();
  await assert.rejects(fetch(`${base}/a1`), 'a stopping server accepts no new connection');
  finish({ found: true, published: true });
  const answer = await withdrawing;
  assert.equal(answer.status, 204, 'the withdrawal under way is answered, not cut');
  await stopped;
});

test('a request under way is cut once the grace of a stop is over', async (t) => {
  const { service, reached } = heldDeletes();
  const server = new IntentServer(service);
  const port = await server.start(0);
  t.after(() => server.stop(0));
  const withdrawing = fetch(`http://127.0.0.1:${port}${INTENT_PATH}/a1`, { method: 'DELETE' });
  await reached;
  await server.stop(0);
  await assert.rejects(withdrawing);
});
