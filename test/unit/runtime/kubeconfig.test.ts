import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { Connection } from '../../../src/runtime/client/connection.js';
import { UnavailableError } from '../../../src/runtime/client/errors.js';
import {
  type ClusterAccess,
  type KubeconfigOptions,
  loadKubeconfig,
} from '../../../src/runtime/client/kubeconfig.js';
import { Transport } from '../../../src/runtime/client/transport.js';
import { waitFor } from '../../../src/runtime/wait.js';

const root = mkdtempSync(join(tmpdir(), 'tutti-kubeconfig-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
function tempDir(): string {
  const d = join(root, `d${dirs++}`);
  mkdirSync(d, { recursive: true });
  return d;
}

interface Entries {
  'current-context'?: string;
  clusters?: Record<string, object>;
  users?: Record<string, object>;
  contexts?: Record<string, object>;
}
function writeConfig(file: string, e: Entries): string {
  const list = (field: string, m: Record<string, object> | undefined) =>
    Object.entries(m ?? {}).map(([name, v]) => ({ name, [field]: v }));
  writeFileSync(
    file,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      ...(e['current-context'] ? { 'current-context': e['current-context'] } : {}),
      clusters: list('cluster', e.clusters),
      users: list('user', e.users),
      contexts: list('context', e.contexts),
    }),
  );
  return file;
}

/** A one-context kubeconfig whose user is `user`. */
function single(dir: string, user: object, cluster: object = { server: 'https://127.0.0.1:6443' }): string {
  return writeConfig(join(dir, 'config'), {
    'current-context': 'c',
    clusters: { k: cluster },
    users: { u: user },
    contexts: { c: { cluster: 'k', user: 'u', namespace: 'team-a' } },
  });
}

async function access(opts: KubeconfigOptions): Promise<ClusterAccess> {
  const a = await loadKubeconfig({ env: {}, ...opts });
  if ('unsupported' in a) assert.fail(`unexpectedly unsupported: ${a.unsupported}`);
  return a;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('kubeconfig loading', () => {
  test('cluster and user fields; relative paths resolve against the kubeconfig directory', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'pki'));
    writeFileSync(join(dir, 'pki', 'ca.crt'), 'CA-PEM');
    writeFileSync(join(dir, 'pki', 'client.crt'), 'CERT-PEM');
    writeFileSync(join(dir, 'pki', 'client.key'), 'KEY-PEM');
    const file = single(
      dir,
      { 'client-certificate': 'pki/client.crt', 'client-key': './pki/client.key' },
      {
        server: 'https://api.example:6443',
        'certificate-authority': 'pki/ca.crt',
        'tls-server-name': 'kubernetes',
      },
    );
    // Loaded from another working directory: paths follow the file, not the process.
    const a = await access({ path: file });
    assert.equal(a.server.href, 'https://api.example:6443/');
    assert.equal(a.namespace, 'team-a');
    assert.equal(a.context, 'c');
    assert.equal(a.tls.ca?.toString(), 'CA-PEM');
    assert.equal(a.tls.cert?.toString(), 'CERT-PEM');
    assert.equal(a.tls.key?.toString(), 'KEY-PEM');
    assert.equal(a.tls.servername, 'kubernetes');
    assert.equal(a.tls.rejectUnauthorized, true);
    assert.deepEqual(await a.credentials.headers(), {});
  });

  test('-data fields win over paths; insecure-skip-tls-verify turns verification off', async () => {
    const dir = tempDir();
    const file = single(
      dir,
      { 'client-certificate-data': b64('C'), 'client-key-data': b64('K'), 'client-key': 'missing.key' },
      { server: 'https://h:1', 'certificate-authority-data': b64('A'), 'insecure-skip-tls-verify': true },
    );
    const a = await access({ path: file });
    assert.equal(a.tls.ca?.toString(), 'A');
    assert.equal(a.tls.cert?.toString(), 'C');
    assert.equal(a.tls.key?.toString(), 'K');
    assert.equal(a.tls.rejectUnauthorized, false);
  });

  test('token, basic auth and a token file that is re-read', async () => {
    const dir = tempDir();
    let a = await access({ path: single(dir, { token: 'abc' }) });
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer abc' });
    a = await access({ path: single(dir, { username: 'ann', password: 'pw' }) });
    assert.deepEqual(await a.credentials.headers(), { authorization: `Basic ${b64('ann:pw')}` });

    writeFileSync(join(dir, 'token'), 'first\n');
    a = await access({ path: single(dir, { tokenFile: 'token' }), tokenFileTtlMs: 0 });
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer first' });
    writeFileSync(join(dir, 'token'), 'second\n');
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer second' });
  });

  test('as, as-uid, as-groups and as-user-extra; proxy-url', async () => {
    const dir = tempDir();
    const a = await access({
      path: single(
        dir,
        {
          token: 'abc',
          as: 'jane',
          'as-uid': '42',
          'as-groups': ['devs'],
          'as-user-extra': { 'example.com/team': ['blue'] },
        },
        { server: 'https://h:1', 'proxy-url': 'http://u:p@proxy.example:3128' },
      ),
    });
    assert.deepEqual(a.impersonate, {
      user: 'jane',
      uid: '42',
      groups: ['devs'],
      extra: { 'example.com/team': ['blue'] },
    });
    assert.equal(a.proxy?.href, 'http://u:p@proxy.example:3128/');
    const plain = await access({ path: single(dir, { token: 'abc' }) });
    assert.equal(plain.impersonate, undefined);
    assert.equal(plain.proxy, undefined);

    await assert.rejects(
      loadKubeconfig({ path: single(dir, { token: 'abc', 'as-groups': ['devs'] }) }),
      /user "u" sets as-uid, as-groups or as-user-extra without as/,
    );
    await assert.rejects(
      loadKubeconfig({
        path: single(dir, { token: 'abc' }, { server: 'https://h:1', 'proxy-url': 'socks5://p:1080' }),
      }),
      /cluster "k": proxy-url "socks5:\/\/p:1080": only http:\/\/ proxies are supported, not socks5/,
    );
    await assert.rejects(
      loadKubeconfig({
        path: single(dir, { token: 'abc' }, { server: 'https://h:1', 'proxy-url': 'proxy:3128' }),
      }),
      /proxy-url "proxy:3128"/,
    );
  });

  test('without proxy-url, HTTPS_PROXY and NO_PROXY choose the proxy, as for kubectl', async () => {
    const dir = tempDir();
    const file = single(dir, { token: 'abc' }, { server: 'https://api.example:6443' });
    const viaEnv = await access({ path: file, env: { HTTPS_PROXY: 'proxy.corp:3128' } });
    assert.equal(viaEnv.proxy?.href, 'http://proxy.corp:3128/');
    const excluded = await access({
      path: file,
      env: { HTTPS_PROXY: 'proxy.corp:3128', NO_PROXY: '.example' },
    });
    assert.equal(excluded.proxy, undefined);
    const own = single(
      tempDir(),
      { token: 'abc' },
      { server: 'https://api.example', 'proxy-url': 'http://mine:1' },
    );
    assert.equal(
      (await access({ path: own, env: { HTTPS_PROXY: 'proxy.corp:3128' } })).proxy?.host,
      'mine:1',
    );
    await assert.rejects(
      loadKubeconfig({ path: file, env: { HTTPS_PROXY: 'socks5://proxy.corp:1080' } }),
      /environment variable HTTPS_PROXY: the proxy "socks5:\/\/proxy.corp:1080": only http:\/\/ proxies are supported/,
    );
  });

  test('$KUBECONFIG merges as kubectl does: first file wins per name, first current-context', async () => {
    const dir = tempDir();
    const first = writeConfig(join(dir, 'a'), {
      clusters: { shared: { server: 'https://first:1' } },
      users: { u: { token: 'from-a' } },
      contexts: { one: { cluster: 'shared', user: 'u' } },
    });
    const second = writeConfig(join(dir, 'b'), {
      'current-context': 'two',
      clusters: { shared: { server: 'https://second:2' }, own: { server: 'https://own:3' } },
      users: { u: { token: 'from-b' } },
      contexts: { one: { cluster: 'own', user: 'u' }, two: { cluster: 'shared', user: 'u' } },
    });
    const third = writeConfig(join(dir, 'c'), { 'current-context': 'one' });
    const missing = join(dir, 'absent');
    const env = { KUBECONFIG: [first, missing, second, third].join(delimiter) };
    const a = await access({ env });
    assert.equal(a.context, 'two');
    assert.equal(a.server.host, 'first:1');
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer from-a' });
    const one = await access({ env, context: 'one' });
    assert.equal(one.server.host, 'first:1', 'context "one" comes from the first file');
  });

  test('~/.kube/config is the default', async () => {
    const home = tempDir();
    mkdirSync(join(home, '.kube'));
    single(join(home, '.kube'), { token: 'home' });
    const a = await access({ env: { HOME: home } });
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer home' });
  });

  test('clear errors name the file and what is wrong', async () => {
    const dir = tempDir();
    const noCurrent = writeConfig(join(dir, 'nocurrent'), {
      clusters: { k: { server: 'https://h:1' } },
      contexts: { c: { cluster: 'k' } },
    });
    await assert.rejects(
      loadKubeconfig({ path: noCurrent }),
      (e: Error) => e.message.includes(noCurrent) && /no current-context/.test(e.message),
    );
    await assert.rejects(loadKubeconfig({ path: noCurrent, context: 'nope' }), /no context named "nope"/);
    const badCluster = writeConfig(join(dir, 'badcluster'), {
      'current-context': 'c',
      contexts: { c: { cluster: 'gone' } },
    });
    await assert.rejects(
      loadKubeconfig({ path: badCluster }),
      (e: Error) => e.message.includes(badCluster) && e.message.includes('unknown cluster "gone"'),
    );
    const badCert = single(tempDir(), { 'client-certificate': 'nope.crt', 'client-key': 'nope.key' });
    await assert.rejects(loadKubeconfig({ path: badCert }), (e: Error) =>
      /user "u": cannot read client-certificate .*nope\.crt/.test(e.message),
    );
    const noServer = single(tempDir(), {}, {});
    await assert.rejects(loadKubeconfig({ path: noServer }), /cluster "k" has no server/);
    await assert.rejects(loadKubeconfig({ path: join(dir, 'absent') }), /absent: cannot read it/);
    await assert.rejects(loadKubeconfig({ env: { HOME: tempDir() } }), /no kubeconfig/);
  });

  test('a legacy auth-provider is handed to client-node', async () => {
    const file = single(tempDir(), { 'auth-provider': { name: 'oidc', config: {} } });
    const a = await loadKubeconfig({ path: file });
    assert.ok('unsupported' in a);
    assert.match(a.unsupported, /auth-provider "oidc"/);
  });
});

describe('exec credential plugins', () => {
  /** A plugin that logs each run and prints what `STATUS` (JSON) says, or fails when FAIL is set. */
  function plugin(dir: string): void {
    mkdirSync(join(dir, 'bin'), { recursive: true });
    const script = join(dir, 'bin', 'cred');
    writeFileSync(
      script,
      `#!/usr/bin/env node
const fs = require('node:fs');
fs.appendFileSync(process.env.LOG, JSON.stringify({ args: process.argv.slice(2), info: JSON.parse(process.env.KUBERNETES_EXEC_INFO) }) + '\\n');
if (process.env.FAIL) { process.stderr.write('login required: ' + process.env.FAIL + '\\n'); process.exit(3); }
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: JSON.parse(process.env.STATUS_FILE ? fs.readFileSync(process.env.STATUS_FILE, 'utf8') : process.env.STATUS) }));
`,
    );
    chmodSync(script, 0o755);
  }
  const runs = (log: string) =>
    readFileSync(log, 'utf8')
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as { args: string[]; info: { apiVersion: string; spec: Record<string, unknown> } },
      );

  for (const apiVersion of ['client.authentication.k8s.io/v1', 'client.authentication.k8s.io/v1beta1']) {
    test(`${apiVersion}: token cached until it expires, args, env and KUBERNETES_EXEC_INFO`, async () => {
      const dir = tempDir();
      plugin(dir);
      const log = join(dir, 'log');
      const exec = (status: object) => ({
        exec: {
          apiVersion,
          command: './bin/cred',
          args: ['get-token', '--cluster', 'k'],
          env: [
            { name: 'LOG', value: log },
            { name: 'STATUS', value: JSON.stringify(status) },
          ],
          interactiveMode: 'IfAvailable',
          provideClusterInfo: true,
        },
      });
      const future = new Date(Date.now() + 3_600_000).toISOString();
      const a = await access({
        path: single(dir, exec({ token: 't1', expirationTimestamp: future }), {
          server: 'https://h:1',
          'certificate-authority-data': b64('A'),
        }),
      });
      assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer t1' });
      assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer t1' });
      const seen = runs(log);
      assert.equal(seen.length, 1, 'an unexpired credential is reused');
      assert.deepEqual(seen[0]!.args, ['get-token', '--cluster', 'k']);
      assert.equal(seen[0]!.info.apiVersion, apiVersion);
      assert.equal(seen[0]!.info.spec['interactive'], false);
      assert.deepEqual(seen[0]!.info.spec['cluster'], {
        server: 'https://h:1',
        'certificate-authority-data': b64('A'),
      });

      // An expired credential makes the plugin run again on the next request.
      rmSync(log);
      const past = new Date(Date.now() - 1000).toISOString();
      const b = await access({ path: single(dir, exec({ token: 't2', expirationTimestamp: past })) });
      await b.credentials.headers();
      await b.credentials.headers();
      assert.equal(runs(log).length, 3, 'load plus two requests');
    });
  }

  test('a client certificate from the plugin goes into the TLS material', async () => {
    const dir = tempDir();
    plugin(dir);
    const a = await access({
      path: single(dir, {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: join(dir, 'bin', 'cred'),
          env: [
            { name: 'LOG', value: join(dir, 'log') },
            {
              name: 'STATUS',
              value: JSON.stringify({ clientCertificateData: 'CERT', clientKeyData: 'KEY' }),
            },
          ],
        },
      }),
    });
    assert.equal(a.tls.cert?.toString(), 'CERT');
    assert.equal(a.tls.key?.toString(), 'KEY');
    assert.deepEqual(await a.credentials.headers(), {});
  });

  test('a rotated client certificate gives the connection a new agent', async () => {
    const dir = tempDir();
    plugin(dir);
    const statusFile = join(dir, 'status.json');
    const past = new Date(Date.now() - 1000).toISOString();
    const status = (n: number) =>
      writeFileSync(
        statusFile,
        JSON.stringify({
          clientCertificateData: `CERT${n}`,
          clientKeyData: `KEY${n}`,
          expirationTimestamp: past,
        }),
      );
    status(1);
    const conn = await Connection.load(
      single(dir, {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: './bin/cred',
          env: [
            { name: 'LOG', value: join(dir, 'log') },
            { name: 'STATUS_FILE', value: statusFile },
          ],
        },
      }),
    );
    try {
      const first = conn.agent;
      assert.equal(String(conn.tls.cert), 'CERT1');
      await conn.authHeaders();
      assert.equal(conn.agent, first, 'the same certificate keeps the agent');
      status(2);
      await conn.authHeaders();
      assert.notEqual(conn.agent, first);
      assert.equal(String(conn.tls.cert), 'CERT2');
      assert.equal(String(conn.agent.options.key), 'KEY2');
    } finally {
      conn.close();
    }
  });

  test('a credential the server refused runs the plugin again, once for all the requests refused with it', async () => {
    const dir = tempDir();
    plugin(dir);
    const log = join(dir, 'log');
    const status = join(dir, 'status');
    writeFileSync(status, JSON.stringify({ token: 'revoked' }));
    const a = await access({
      path: single(dir, {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: './bin/cred',
          env: [
            { name: 'LOG', value: log },
            { name: 'STATUS_FILE', value: status },
          ],
        },
      }),
    });
    const refused = await a.credentials.headers();
    writeFileSync(status, JSON.stringify({ token: 'fresh' }));
    // Three requests refused with the same headers, their 401s arriving together.
    assert.deepEqual(await Promise.all([1, 2, 3].map(() => a.credentials.renew!(refused))), [
      true,
      true,
      true,
    ]);
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer fresh' });
    // A late 401 for the old credential: it has been renewed already.
    assert.equal(await a.credentials.renew!(refused), true);
    assert.equal(runs(log).length, 2, 'load plus one renewal');
    // The plugin has nothing better: the refused request is not worth sending again.
    assert.equal(await a.credentials.renew!(await a.credentials.headers()), false);
    assert.equal(runs(log).length, 3);
  });

  test('a failing plugin reports its exit code and stderr', async () => {
    const dir = tempDir();
    plugin(dir);
    const file = single(dir, {
      exec: {
        apiVersion: 'client.authentication.k8s.io/v1',
        command: './bin/cred',
        env: [
          { name: 'LOG', value: join(dir, 'log') },
          { name: 'FAIL', value: 'run `cloud login`' },
        ],
      },
    });
    await assert.rejects(loadKubeconfig({ path: file }), (e: Error) =>
      /user "u": exec plugin .*bin\/cred exited with 3: login required: run `cloud login`/.test(e.message),
    );
    const missing = single(tempDir(), {
      exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'tutti-no-such-plugin' },
    });
    await assert.rejects(
      loadKubeconfig({ path: missing }),
      /exec plugin tutti-no-such-plugin could not start/,
    );
  });
});

describe('an exec plugin that hangs', () => {
  /** Rejects if `work` has not settled within `ms`: the test fails rather than hanging. */
  const settledWithin = <T>(work: Promise<T>, ms: number, what: string) =>
    Promise.race([
      work,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`${what} still waiting after ${ms} ms`)), ms).unref(),
      ),
    ]);
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  /** A kubeconfig whose plugin gives an expired token, then hangs on every run once `hang` exists. */
  function hangingPlugin(): { file: string; hang: string } {
    const dir = tempDir();
    const script = join(dir, 'bin', 'cred');
    mkdirSync(join(dir, 'bin'), { recursive: true });
    writeFileSync(
      script,
      `#!/usr/bin/env node
const fs = require('node:fs');
const hang = ${JSON.stringify(join(dir, 'hang'))};
if (fs.existsSync(hang)) { fs.appendFileSync(hang, process.pid + '\\n'); process.stderr.write('waiting for a login\\n'); setInterval(() => {}, 1000); return; }
const info = JSON.parse(process.env.KUBERNETES_EXEC_INFO);
process.stdout.write(JSON.stringify({ apiVersion: info.apiVersion, kind: 'ExecCredential', status: { token: 't', expirationTimestamp: '2000-01-01T00:00:00Z' } }));
`,
    );
    chmodSync(script, 0o755);
    const file = single(
      dir,
      { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/cred' } },
      // Never reached: the requests wait for their credentials.
      { server: 'https://127.0.0.1:9' },
    );
    return { file, hang: join(dir, 'hang') };
  }
  const pids = (hang: string) => readFileSync(hang, 'utf8').trim().split('\n').filter(Boolean).map(Number);

  test('is killed after its timeout, and the error names the command', async () => {
    const { file, hang } = hangingPlugin();
    writeFileSync(hang, '');
    await assert.rejects(
      settledWithin(access({ path: file, execPluginTimeoutMs: 300 }), 15_000, 'the kubeconfig load'),
      (e: Error) => {
        assert.match(e.message, /user "u": exec plugin .*bin\/cred did not finish within 300 ms; killed it/);
        assert.match(e.message, /waiting for a login/);
        return true;
      },
    );
    const [pid] = pids(hang);
    await waitFor(() => !alive(pid!), {
      description: `plugin process ${pid} to be killed`,
      timeoutMs: 5_000,
    });
  });

  test("a request waiting for it ends with its signal, or at its deadline, not the plugin's end", async () => {
    const { file, hang } = hangingPlugin();
    const conn = Connection.fromAccess(await access({ path: file, execPluginTimeoutMs: 20_000 }));
    const transport = new Transport(conn);
    writeFileSync(hang, '');
    try {
      const caller = new AbortController();
      const called = transport.json({ method: 'GET', path: '/api', signal: caller.signal });
      await waitFor(() => pids(hang).length > 0, {
        description: 'the plugin to run again',
        timeoutMs: 10_000,
      });
      const reason = new Error('the caller gave up');
      caller.abort(reason);
      await assert.rejects(settledWithin(called, 5_000, 'the aborted request'), (e) => e === reason);

      await assert.rejects(
        settledWithin(transport.json({ method: 'GET', path: '/api', timeoutMs: 300 }), 5_000, 'the request'),
        (e: Error) => {
          assert.ok(e instanceof UnavailableError, String(e));
          assert.match(
            e.message,
            /GET \/api: no credentials within 300 ms: the kubeconfig's credential plugin/,
          );
          return true;
        },
      );
    } finally {
      conn.close();
      for (const pid of pids(hang)) if (alive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});

describe('in-cluster config', () => {
  test('service-account token, CA and namespace; the token is re-read as it rotates', async () => {
    const sa = tempDir();
    writeFileSync(join(sa, 'token'), 'sa-token-1');
    writeFileSync(join(sa, 'ca.crt'), 'SA-CA');
    writeFileSync(join(sa, 'namespace'), 'tutti-system\n');
    const env = { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '443', HOME: tempDir() };
    const a = await access({ env, serviceAccountDir: sa, tokenFileTtlMs: 0 });
    assert.equal(a.source, 'in-cluster');
    assert.equal(a.server.href, 'https://[fd00::1]/');
    assert.equal(a.namespace, 'tutti-system');
    assert.equal(a.tls.ca?.toString(), 'SA-CA');
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer sa-token-1' });
    writeFileSync(join(sa, 'token'), 'sa-token-2');
    assert.deepEqual(await a.credentials.headers(), { authorization: 'Bearer sa-token-2' });

    await assert.rejects(
      loadKubeconfig({ env, serviceAccountDir: tempDir() }),
      /in-cluster config: cannot read .*ca\.crt/,
    );
  });
});

describe('Connection.load', () => {
  test('uses our loader: server, TLS and auth headers', async () => {
    const dir = tempDir();
    const file = single(
      dir,
      { token: 'conn' },
      { server: 'https://10.0.0.1:6443', 'certificate-authority-data': b64('A') },
    );
    const conn = await Connection.load(file);
    try {
      assert.equal(conn.kubeConfig, undefined, 'client-node was not needed');
      assert.equal(conn.server.host, '10.0.0.1:6443');
      assert.equal(conn.namespace, 'team-a');
      assert.equal(String(conn.tls.ca), 'A');
      assert.deepEqual(await conn.authHeaders(), { authorization: 'Bearer conn' });
    } finally {
      conn.close();
    }
  });

  test("the kubeconfig's as* fields become Impersonate-* headers; a client's own choice wins", async () => {
    const file = single(tempDir(), {
      token: 'conn',
      as: 'jane',
      'as-uid': '42',
      'as-groups': ['devs', 'ops'],
      'as-user-extra': { 'example.com/team name': ['blue', 'green'], scopes: [] },
    });
    const conn = await Connection.load(file);
    try {
      const h = await new Transport(conn).headers();
      assert.equal(h['authorization'], 'Bearer conn');
      assert.equal(h['impersonate-user'], 'jane');
      assert.equal(h['impersonate-uid'], '42');
      assert.deepEqual(h['impersonate-group'], ['devs', 'ops']);
      // Not header token characters, so percent-encoded, as client-go sends them.
      assert.deepEqual(h['impersonate-extra-example.com%2Fteam%20name'], ['blue', 'green']);
      assert.equal(h['impersonate-extra-scopes'], undefined);
      const own = await new Transport(conn, { user: 'bob' }).headers();
      assert.equal(own['impersonate-user'], 'bob');
      assert.equal(own['impersonate-uid'], undefined);
    } finally {
      conn.close();
    }
  });

  test('falls back to client-node for a legacy auth-provider', async () => {
    const expiry = new Date(Date.now() + 3_600_000).toISOString();
    const file = single(
      tempDir(),
      { 'auth-provider': { name: 'azure', config: { 'access-token': 'legacy', expiry } }, as: 'jane' },
      { server: 'https://127.0.0.1:6443', 'proxy-url': 'http://proxy.corp:3128' },
    );
    const conn = await Connection.load(file);
    try {
      assert.ok(conn.kubeConfig, 'client-node loaded it');
      assert.equal(conn.server.host, '127.0.0.1:6443');
      assert.deepEqual(await conn.authHeaders(), {
        Authorization: 'Bearer legacy',
        'Impersonate-User': 'jane',
      });
      assert.equal(conn.proxy?.host, 'proxy.corp:3128');
    } finally {
      conn.close();
    }
  });
});
