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
