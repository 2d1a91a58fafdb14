import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { parse } from 'yaml';
import { ensurePki } from '../../../src/cluster/pki.js';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { TlsError } from '../../../src/runtime/client/errors.js';
import { execInPod } from '../../../src/runtime/client/exec.js';
import { Pods } from '../../../src/runtime/client/kinds.js';
import { type KubeconfigDoc, kubeconfigVariant, testKubeconfig } from '../../support/cluster.js';
import { faultInjected, proxyCertificate } from './fixtures/fault-injecting-proxy.js';

async function testServer(): Promise<string> {
  const doc = parse(await readFile(testKubeconfig(), 'utf8')) as KubeconfigDoc;
  return (doc.clusters[0]!.cluster['server'] as string).replace(/\/$/, '');
}

/** The certificate of a CA made for the test, which signed nothing the API server presents. */
async function strangerCa(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-stranger-ca-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const pki = await ensurePki(dir, []);
  return (await readFile(pki.caCert)).toString('base64');
}

async function failure(t: TestContext, kubeconfig: string): Promise<TlsError> {
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  try {
    await client.raw('/version');
  } catch (err) {
    assert.ok(err instanceof TlsError, `a TlsError, not ${String(err)}`);
    return err;
  }
  assert.fail('the request went through');
}

test('a server certificate no trusted CA signed: the error names the server, the failure and the CA to check', async (t) => {
  const ca = await strangerCa(t);
  const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
    for (const c of doc.clusters) {
      c.cluster['certificate-authority-data'] = ca;
      delete c.cluster['certificate-authority'];
    }
  });
  const err = await failure(t, kubeconfig);
  assert.match(err.tlsCode, /^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO)/);
  assert.ok(err.message.includes(`the API server ${await testServer()}`), err.message);
  assert.ok(err.message.includes(err.tlsCode), err.message);
  assert.match(err.message, /signed by an authority we do not trust/);
  assert.match(err.message, /certificate-authority or certificate-authority-data/);
  assert.ok(err.message.includes(kubeconfig), `names the kubeconfig: ${err.message}`);
});

test('a server certificate for another name: the error says so and what to check', async (t) => {
  const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
    for (const c of doc.clusters) c.cluster['tls-server-name'] = 'not-the-api-server.example';
  });
  const err = await failure(t, kubeconfig);
  assert.equal(err.tlsCode, 'ERR_TLS_CERT_ALTNAME_INVALID');
  assert.ok(err.message.includes(`the API server ${await testServer()}`), err.message);
  assert.match(err.message, /not-the-api-server\.example/);
  assert.match(err.message, /server \(or its tls-server-name\)/);
});

test('exec to a server whose certificate no trusted CA signed: the same TlsError as a request', async (t) => {
  const { proxy, kubeconfig } = await faultInjected(t);
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  // Discovery done while the certificate was trusted, so that exec meets the new one itself.
  await client.list(Pods, { namespace: 'default' });
  proxy.presentCertificate(await proxyCertificate(t));

  // The handshake fails before any pod is looked up: this one need not exist.
  const exec = execInPod(client, 'default', 'any-pod', ['true']);
  const err = await exec.then(
    () => assert.fail('exec went through'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TlsError, `a TlsError, not ${String(err)}`);
  assert.match(err.tlsCode, /^(UNABLE_TO_|SELF_SIGNED|DEPTH_ZERO)/);
  assert.ok(err.message.includes(`the API server https://127.0.0.1:${proxy.port}`), err.message);
  assert.match(err.message, /\/pods\/any-pod\/exec/);
  assert.match(err.message, /signed by an authority we do not trust/);
  assert.ok(err.message.includes(kubeconfig), `names the kubeconfig: ${err.message}`);
});
