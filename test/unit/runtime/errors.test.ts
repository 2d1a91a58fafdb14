import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AlreadyExistsError,
  apiErrorFrom,
  ConflictError,
  ForbiddenError,
  GoneError,
  InvalidError,
  isResourceExpired,
  isRetryable,
  NotFoundError,
  TlsError,
  TooManyRequestsError,
  tlsError,
  UnavailableError,
} from '../../../src/runtime/client/errors.js';
import { exitCodeOf } from '../../../src/runtime/client/exec.js';
import { waitFor } from '../../../src/runtime/wait.js';

const req = { method: 'POST', path: '/api/v1/namespaces/x/pods' };

describe('API errors', () => {
  test('each status code maps to its typed error', () => {
    assert.ok(apiErrorFrom(404, { reason: 'NotFound' }, req) instanceof NotFoundError);
    assert.ok(apiErrorFrom(403, { reason: 'Forbidden' }, req) instanceof ForbiddenError);
    assert.ok(apiErrorFrom(409, { reason: 'AlreadyExists' }, req) instanceof AlreadyExistsError);
    assert.ok(apiErrorFrom(409, { reason: 'Conflict' }, req) instanceof ConflictError);
    assert.ok(apiErrorFrom(410, { reason: 'Expired' }, req) instanceof GoneError);
    assert.ok(apiErrorFrom(429, {}, req) instanceof TooManyRequestsError);
    assert.ok(apiErrorFrom(503, {}, req) instanceof UnavailableError);
  });
  test('Invalid carries every field cause', () => {
    const err = apiErrorFrom(
      422,
      {
        reason: 'Invalid',
        message: 'Widget "w" is invalid: spec.size: Invalid value',
        details: { causes: [{ reason: 'FieldValueInvalid', field: 'spec.size', message: 'too big' }] },
      },
      req,
    );
    assert.ok(err instanceof InvalidError);
    assert.deepEqual(err.causes, [{ field: 'spec.size', reason: 'FieldValueInvalid', message: 'too big' }]);
    assert.equal(err.message, 'Widget "w" is invalid: spec.size: Invalid value');
  });
  test('only unavailability and throttling are retryable', () => {
    assert.equal(isRetryable(apiErrorFrom(500, {}, req)), true);
    assert.equal(isRetryable(apiErrorFrom(429, {}, req)), true);
    assert.equal(isRetryable(apiErrorFrom(403, {}, req)), false);
    assert.equal(isRetryable(apiErrorFrom(422, {}, req)), false);
  });
  test('a body that is not a Status still yields a message', () => {
    assert.equal(apiErrorFrom(502, undefined, req).message, 'POST /api/v1/namespaces/x/pods: HTTP 502');
  });
});

describe('exec status', () => {
  test('reads the exit code the server reports', () => {
    assert.equal(exitCodeOf({ status: 'Success' }), 0);
    assert.equal(
      exitCodeOf({
        status: 'Failure',
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: '42' }] },
      }),
      42,
    );
    assert.equal(
      exitCodeOf({ status: 'Failure', reason: 'InternalError', message: 'no container' }),
      undefined,
    );
  });
});

describe('waitFor', () => {
  test('returns the first truthy value', async () => {
    let n = 0;
    assert.equal(
      await waitFor(() => (++n >= 3 ? n : undefined), { description: 'n', timeoutMs: 5000, intervalMs: 1 }),
      3,
    );
  });
  test('times out naming what it waited for and the last error', async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('still booting');
        },
        { description: 'the server to answer', timeoutMs: 50, intervalMs: 10 },
      ),
      /timed out after 50 ms waiting for the server to answer; last error: still booting/,
    );
  });
});

test('isResourceExpired: a 410 Expired (a compacted continue token), not any 410', () => {
  const request = { method: 'GET', path: '/api/v1/configmaps' };
  assert.equal(isResourceExpired(apiErrorFrom(410, { reason: 'Expired', code: 410 }, request)), true);
  assert.equal(isResourceExpired(apiErrorFrom(410, { reason: 'Gone', code: 410 }, request)), false);
  assert.equal(isResourceExpired(apiErrorFrom(400, { reason: 'Expired', code: 400 }, request)), false);
});

describe('tlsError', () => {
  const request = { method: 'GET', path: '/version' };
  const server = new URL('https://10.0.0.1:6443');
  const failed = (code: string, message = 'failed') => Object.assign(new Error(message), { code });

  test('an untrusted certificate names the server, the code and the CA settings to check', () => {
    const err = tlsError(
      failed('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
      request,
      server,
      'kc.yaml',
    );
    assert.ok(err instanceof TlsError);
    assert.equal(err.tlsCode, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    assert.match(err.message, /^GET \/version: the API server https:\/\/10\.0\.0\.1:6443 presented/);
    assert.match(err.message, /unable to verify the first certificate \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)/);
    assert.match(err.message, /certificate-authority-data in the kubeconfig kc\.yaml/);
    assert.ok(isRetryable(err), 'still an UnavailableError: a certificate being rotated heals');
  });

  test('a wrong name, an expired certificate and a broken handshake each say what to check', () => {
    assert.match(
      tlsError(failed('ERR_TLS_CERT_ALTNAME_INVALID'), request, server)!.message,
      /tls-server-name/,
    );
    assert.match(tlsError(failed('CERT_HAS_EXPIRED'), request, server)!.message, /clock/);
    assert.match(tlsError(failed('ERR_SSL_WRONG_VERSION_NUMBER'), request, server)!.message, /https address/);
  });

  test('any other failure is not a TLS one', () => {
    assert.equal(tlsError(failed('ECONNREFUSED'), request, server), undefined);
    assert.equal(tlsError(new Error('no complete response within 10 ms'), request, server), undefined);
  });
});
