import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { type AddressInfo, connect, createServer as createNetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ConfigMap } from 'kubernetes-types/core/v1.js';
import { parse, stringify } from 'yaml';
import { KubeClient } from '../../../src/runtime/client/client.js';
import { Connection } from '../../../src/runtime/client/connection.js';
import { ApiError, ClientClosedError } from '../../../src/runtime/client/errors.js';
import { execInPod } from '../../../src/runtime/client/exec.js';
import { ConfigMaps, Namespaces, ServiceAccounts } from '../../../src/runtime/client/kinds.js';
import { loadKubeconfig } from '../../../src/runtime/client/kubeconfig.js';
import { Informer } from '../../../src/runtime/informer.js';
import { waitFor } from '../../../src/runtime/wait.js';
import {
  type KubeconfigDoc,
  kubeconfigVariant,
  shellPod,
  testClient,
  testKubeconfig,
  testNamespace,
  twoContextKubeconfig,
} from '../../support/cluster.js';

async function testKubeconfigDoc(): Promise<KubeconfigDoc> {
  return parse(await readFile(testKubeconfig(), 'utf8')) as KubeconfigDoc;
}

/** The API server the test kubeconfig names. */
async function testServer(): Promise<URL> {
  return new URL((await testKubeconfigDoc()).clusters[0]!.cluster['server'] as string);
}

async function load(t: TestContext, kubeconfig: string): Promise<KubeClient> {
  const client = await KubeClient.load(kubeconfig);
  t.after(() => client.close());
  return client;
}

interface UserInfo {
  username?: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

/** Who the API server takes the client for (SelfSubjectReview). */
async function whoAmI(client: KubeClient): Promise<UserInfo> {
  const review = await client.create<{ apiVersion: string; kind: string; status?: { userInfo?: UserInfo } }>({
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'SelfSubjectReview',
  });
  return review.status?.userInfo ?? {};
}

/**
 * An HTTP proxy that opens CONNECT tunnels, recording each target; with `credentials`, only for
 * them. It resolves the names in `hosts` itself, as a proxy in front of a private network does.
 */
async function connectProxy(t: TestContext, credentials?: string, hosts: Record<string, string> = {}) {
  const tunnels: string[] = [];
  const refused: string[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    sockets.add(client);
    const expected = credentials && `Basic ${Buffer.from(credentials).toString('base64')}`;
    if (expected && req.headers['proxy-authorization'] !== expected) {
      refused.push(req.url ?? '');
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
      return;
    }
    tunnels.push(req.url ?? '');
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), req.url!.split(':').pop()];
    const upstream = connect(Number(port), hosts[host] ?? host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  });
  const port = (server.address() as { port: number }).port;
  return { port, tunnels, refused };
}

describe('kubeconfig fields at work against the API server', () => {
  test('as, as-uid, as-groups and as-user-extra: the server sees the user acted as, and its rights', async (t) => {
    const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
      Object.assign(doc.users[0]!.user, {
        as: 'jane',
        'as-uid': 'uid-42',
        'as-groups': ['devs', 'auditors'],
        // `/` is no header token character: sent percent-encoded, it must come back as it was.
        'as-user-extra': { 'example.com/team': ['blue', 'green'] },
      });
    });
    const jane = await load(t, kubeconfig);
    const me = await whoAmI(jane);
    assert.equal(me.username, 'jane');
    assert.equal(me.uid, 'uid-42');
    assert.deepEqual(
      me.groups?.filter((g) => g !== 'system:authenticated'),
      ['devs', 'auditors'],
    );
    assert.deepEqual(me.extra, { 'example.com/team': ['blue', 'green'] });
    // jane has no role: what the admin could list, she may not.
    await assert.rejects(
      jane.list(Namespaces),
      (e: Error) => e instanceof ApiError && e.code === 403 && /User "jane"/.test(e.message),
    );
  });

  test('proxy-url: requests, watches and exec tunnel through an HTTP proxy, which sees no request', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin);
    const proxy = await connectProxy(t, 'tutti:s3cret');
    const server = await testServer();
    const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
      doc.clusters[0]!.cluster['proxy-url'] = `http://tutti:s3cret@127.0.0.1:${proxy.port}`;
    });
    const client = await load(t, kubeconfig);

    const informer = new Informer(client, ConfigMaps, { namespace: ns });
    informer.start();
    t.after(() => informer.stop());
    await informer.waitForSync();
    await client.create<ConfigMap>({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'through-proxy', namespace: ns },
      data: { a: 'b' },
    });
    await waitFor(() => informer.get(`${ns}/through-proxy`), {
      description: 'the watch through the proxy to see the new ConfigMap',
      timeoutMs: 30_000,
    });
    await informer.stop(); // before the proxy goes, which would end its watch

    await shellPod(client, ns);
    const run = await execInPod(client, ns, 'shell', ['echo', 'tunnelled']);
    assert.equal(run.stdout.trim(), 'tunnelled');

    assert.ok(proxy.tunnels.length >= 3, `tunnels: ${proxy.tunnels.join(', ')}`);
    assert.ok(proxy.tunnels.every((target) => target === server.host));

    // The same proxy without its credentials: the error names the proxy and its answer.
    const { kubeconfig: noAuth } = await kubeconfigVariant(t, (doc) => {
      doc.clusters[0]!.cluster['proxy-url'] = `http://127.0.0.1:${proxy.port}`;
    });
    const refused = await load(t, noAuth);
    await assert.rejects(refused.get(Namespaces, ns), (e: Error) => {
      assert.match(e.message, new RegExp(`proxy http://127\\.0\\.0\\.1:${proxy.port}: refused CONNECT`));
      assert.match(e.message, /407 Proxy Authentication Required/);
      return true;
    });
    assert.equal(proxy.refused.length, 1);
  });

  test('proxy-url: close() ends a tunnel the proxy never opens, rather than holding it for 30 s', async (t) => {
    const accepted: Socket[] = [];
    let closed = 0;
    // Takes the connection and never answers its CONNECT.
    const silent = createNetServer((socket) => {
      accepted.push(socket);
      socket.on('error', () => {});
      socket.on('close', () => closed++);
      socket.resume(); // reads (and drops) the CONNECT, and so sees the client hang up
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const s of accepted) s.destroy();
      silent.close();
    });
    const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
      doc.clusters[0]!.cluster['proxy-url'] = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
    });
    const client = await load(t, kubeconfig);
    const pending = client.raw('/version');
    await waitFor(() => accepted.length > 0, {
      description: 'the proxy to be asked for a tunnel',
      timeoutMs: 10_000,
    });
    const ended = assert.rejects(pending, ClientClosedError);
    client.close();
    await waitFor(() => closed === accepted.length, {
      description: 'the client to close its connections to the proxy',
      timeoutMs: 10_000,
    });
    await ended;
  });

  test('HTTPS_PROXY carries a kubeconfig without proxy-url, but never to a loopback server', async (t) => {
    const admin = (await whoAmI(await testClient(t))).username;
    const proxy = await connectProxy(t, undefined, { 'apiserver.test': '127.0.0.1' });
    const env = { ...process.env, HTTPS_PROXY: `127.0.0.1:${proxy.port}`, NO_PROXY: '' };
    const fromEnv = async (kubeconfig: string) => {
      const access = await loadKubeconfig({ path: kubeconfig, env });
      assert.ok(!('unsupported' in access));
      const client = KubeClient.fromConnection(Connection.fromAccess(access));
      t.after(() => client.close());
      return client;
    };
    const { port } = await testServer();
    // A name only the proxy can resolve: reaching the server at all proves the tunnel.
    const { kubeconfig } = await kubeconfigVariant(t, (doc) => {
      doc.clusters[0]!.cluster['server'] = `https://apiserver.test:${port}`;
      doc.clusters[0]!.cluster['tls-server-name'] = 'localhost';
    });
    assert.equal((await whoAmI(await fromEnv(kubeconfig))).username, admin);
    assert.deepEqual([...new Set(proxy.tunnels)], [`apiserver.test:${port}`]);

    const tunnels = proxy.tunnels.length;
    assert.equal((await whoAmI(await fromEnv(testKubeconfig()))).username, admin);
    assert.equal(proxy.tunnels.length, tunnels, '127.0.0.1 is reached directly');
  });

  test('a token the server refuses is renewed at once: the exec plugin runs again, the token file is re-read', async (t) => {
    const admin = await testClient(t);
    const ns = await testNamespace(t, admin);
    await admin.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: 'robot', namespace: ns },
    });
    const tokenPath = `${await admin.path(ServiceAccounts, ns, 'robot')}/token`;
    const { status } = await admin.transport.json<{ status: { token: string } }>({
      method: 'POST',
      path: tokenPath,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} },
    });
    const robot = `system:serviceaccount:${ns}:robot`;

    // A plugin whose first credential the server refuses (a token revoked before it expired).
    const withPlugin = async (firstToken: string, laterToken: string) => {
      const { kubeconfig, dir } = await kubeconfigVariant(t, (doc) => {
        doc.users[0]!.user = {
          exec: {
            apiVersion: 'client.authentication.k8s.io/v1',
            command: './plugin',
            interactiveMode: 'Never',
          },
        };
      });
      await writeFile(join(dir, 'first'), firstToken);
      await writeFile(join(dir, 'later'), laterToken);
      await writeFile(
        join(dir, 'plugin'),
        `#!/bin/sh
cd "$(dirname "$0")"
echo run >> runs
if [ "$(wc -l < runs)" -eq 1 ]; then token=$(cat first); else token=$(cat later); fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$token"
`,
      );
      await chmod(join(dir, 'plugin'), 0o755);
      const runs = async () => (await readFile(join(dir, 'runs'), 'utf8')).split('\n').filter(Boolean).length;
      return { client: await load(t, kubeconfig), runs };
    };

    const renewed = await withPlugin('revoked', status.token);
    assert.equal(await renewed.runs(), 1); // run at load
    assert.equal((await whoAmI(renewed.client)).username, robot);
    assert.equal(await renewed.runs(), 2);
    assert.equal((await whoAmI(renewed.client)).username, robot);
    assert.equal(await renewed.runs(), 2, 'a credential the server accepts is kept');

    // A plugin that never gets a good token: one renewal per request, then the server's 401.
    const hopeless = await withPlugin('revoked', 'revoked-too');
    await assert.rejects(whoAmI(hopeless.client), (e: Error) => e instanceof ApiError && e.code === 401);
    assert.equal(await hopeless.runs(), 2);

    // A token file rotated underneath, before its minute of trust is up.
    const { kubeconfig, dir } = await kubeconfigVariant(t, (doc) => {
      doc.users[0]!.user = { tokenFile: './token' };
    });
    await writeFile(join(dir, 'token'), 'revoked');
    const fromFile = await load(t, kubeconfig);
    await writeFile(join(dir, 'token'), status.token);
    assert.equal((await whoAmI(fromFile)).username, robot);
  });

  test('a context asked for by name is used, on the client and on the command line', async (t) => {
    const kubeconfig = await twoContextKubeconfig(t);
    const client = await KubeClient.load(kubeconfig, { context: 'plane' });
    t.after(() => client.close());
    assert.ok(await client.find(Namespaces, 'default'));
    assert.deepEqual(client.transport.connection.origin, { kubeconfig, context: 'plane' });

    const dir = await mkdtemp(join(tmpdir(), 'tutti-conform-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'default' } };
    await writeFile(join(dir, 'cm.yaml'), stringify(cm));
    const conform = (...flags: string[]) =>
      tutti('gitops', 'conform', dir, '--kubeconfig', kubeconfig, ...flags);

    const chosen = await conform('--context', 'plane');
    assert.equal(chosen.code, 0, chosen.stderr);
    assert.match(chosen.stdout, /1 objects, 0 problems/);
    const current = await conform();
    assert.notEqual(current.code, 0);
    assert.match(current.stderr, /127\.0\.0\.1:9\b/);
    const unknown = await conform('--context', 'nope');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no context named "nope"/);
  });
});

function tutti(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = fileURLToPath(new URL('../../../bin/tutti.js', import.meta.url));
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}
