import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  isResetGet,
  isStaleSocketFailure,
  mayResendOnNewConnection,
  pause,
  retryAfterSeconds,
} from '../../../src/runtime/client/retry.js';

describe('retryAfterSeconds (which answers ask to be sent again, as client-go reads them)', () => {
  test('a 429 or any 5xx with whole seconds asks', () => {
    assert.equal(retryAfterSeconds(429, '1'), 1);
    assert.equal(retryAfterSeconds(500, '0'), 0);
    assert.equal(retryAfterSeconds(503, ' 7 '), 7);
    assert.equal(retryAfterSeconds(504, ['3', '9']), 3);
  });

  test('without the header, or with a date or a fraction, the answer stands', () => {
    assert.equal(retryAfterSeconds(429, undefined), undefined);
    assert.equal(retryAfterSeconds(503, undefined), undefined);
    assert.equal(retryAfterSeconds(503, 'Wed, 21 Oct 2026 07:28:00 GMT'), undefined);
    assert.equal(retryAfterSeconds(429, '1.5'), undefined);
    assert.equal(retryAfterSeconds(429, '-1'), undefined);
    assert.equal(retryAfterSeconds(429, ''), undefined);
  });

  test('other statuses never ask, whatever the header says', () => {
    for (const status of [200, 201, 400, 401, 404, 409, 410, 422]) {
      assert.equal(retryAfterSeconds(status, '1'), undefined, `HTTP ${status}`);
    }
  });
});

describe('isStaleSocketFailure', () => {
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  test('a reset or a broken pipe on a reused socket may be sent again', () => {
    assert.equal(isStaleSocketFailure(reset, true), true);
    assert.equal(
      isStaleSocketFailure(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }), true),
      true,
    );
  });
  test('not on a new socket, nor for another error', () => {
    assert.equal(isStaleSocketFailure(reset, false), false);
    assert.equal(
      isStaleSocketFailure(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), true),
      false,
    );
    assert.equal(isStaleSocketFailure(new Error('no complete response within 10 ms'), true), false);
  });
});

describe('mayResendOnNewConnection (as Go: only what the server cannot have acted on, or may repeat)', () => {
  const cm = (resourceVersion?: string) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'x', ...(resourceVersion === undefined ? {} : { resourceVersion }) },
  });
  test('any verb whose own write failed: the server cannot have it whole', () => {
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(mayResendOnNewConnection(method, cm(), true), true, method);
    }
  });
  test('once written, a GET, a DELETE and a compare-and-swap PUT', () => {
    assert.equal(mayResendOnNewConnection('GET', undefined, false), true);
    assert.equal(mayResendOnNewConnection('DELETE', { propagationPolicy: 'Background' }, false), true);
    assert.equal(mayResendOnNewConnection('PUT', cm('42'), false), true);
  });
  test('once written, never a POST, a PATCH, or a PUT without a resourceVersion', () => {
    assert.equal(mayResendOnNewConnection('POST', cm(), false), false);
    assert.equal(
      mayResendOnNewConnection('PATCH', [{ op: 'add', path: '/data/k', value: 'v' }], false),
      false,
    );
    assert.equal(mayResendOnNewConnection('PUT', cm(), false), false);
    assert.equal(mayResendOnNewConnection('PUT', cm(''), false), false);
    assert.equal(mayResendOnNewConnection('PUT', JSON.stringify(cm('42')), false), false);
  });
});

describe('isResetGet (client-go sends a GET again after a reset or an early EOF)', () => {
  const failure = (message: string, code?: string) => Object.assign(new Error(message), { code });
  test('a GET whose connection was reset, hung up or broken', () => {
    assert.equal(isResetGet('GET', failure('read ECONNRESET', 'ECONNRESET')), true);
    assert.equal(isResetGet('GET', failure('socket hang up', 'ECONNRESET')), true);
    assert.equal(isResetGet('GET', failure('write EPIPE', 'EPIPE')), true);
  });
  test('no other verb, and no other failure', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      assert.equal(isResetGet(method, failure('socket hang up', 'ECONNRESET')), false, method);
    }
    assert.equal(isResetGet('GET', failure('connect ECONNREFUSED', 'ECONNREFUSED')), false);
    assert.equal(isResetGet('GET', failure('no complete response within 10 ms')), false);
    assert.equal(isResetGet('GET', failure('self-signed', 'SELF_SIGNED_CERT_IN_CHAIN')), false);
  });
});

describe('pause', () => {
  test("rejects with the signal's own reason when it aborts", async () => {
    const controller = new AbortController();
    const waiting = pause(60_000, controller.signal);
    const reason = new Error('stopped');
    controller.abort(reason);
    await assert.rejects(waiting, (err) => err === reason);
  });

  test('rejects at once for a signal already aborted', async () => {
    const reason = new Error('already');
    await assert.rejects(pause(60_000, AbortSignal.abort(reason)), (err) => err === reason);
  });
});
