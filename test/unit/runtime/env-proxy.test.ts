import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { noProxyMatches, proxyFromEnvironment } from '../../../src/runtime/client/env-proxy.js';

describe('the proxy from the environment', () => {
  const server = (s: string) => new URL(s);

  test('HTTPS_PROXY, then https_proxy; a value without a scheme is http://', () => {
    assert.deepEqual(
      proxyFromEnvironment(server('https://api.example:6443'), { HTTPS_PROXY: 'http://p:3128' }),
      {
        variable: 'HTTPS_PROXY',
        value: 'http://p:3128',
      },
    );
    assert.deepEqual(proxyFromEnvironment(server('https://api.example:6443'), { https_proxy: 'p:3128' }), {
      variable: 'https_proxy',
      value: 'http://p:3128',
    });
    assert.equal(
      proxyFromEnvironment(server('https://api.example:6443'), { HTTP_PROXY: 'p:3128' }),
      undefined,
    );
  });

  test('never for localhost or a loopback address', () => {
    const env = { HTTPS_PROXY: 'p:3128' };
    for (const s of [
      'https://localhost:6443',
      'https://127.0.0.1:6443',
      'https://127.8.0.1',
      'https://[::1]:6443',
    ])
      assert.equal(proxyFromEnvironment(server(s), env), undefined, s);
    assert.ok(proxyFromEnvironment(server('https://10.0.0.1:6443'), env));
  });

  test('NO_PROXY (or no_proxy) takes hosts out', () => {
    assert.equal(
      proxyFromEnvironment(server('https://api.corp.example'), {
        HTTPS_PROXY: 'p:1',
        NO_PROXY: 'corp.example',
      }),
      undefined,
    );
    assert.equal(
      proxyFromEnvironment(server('https://10.1.2.3'), { HTTPS_PROXY: 'p:1', no_proxy: '10.0.0.0/8' }),
      undefined,
    );
  });

  const cases: [string, string, string, boolean][] = [
    ['*', 'anything.example', '443', true],
    ['example.com', 'example.com', '443', true],
    ['example.com', 'api.example.com', '443', true],
    ['example.com', 'badexample.com', '443', false],
    ['.example.com', 'example.com', '443', false],
    ['.example.com', 'api.example.com', '443', true],
    ['*.example.com', 'api.example.com', '443', true],
    ['*.example.com', 'example.com', '443', false],
    ['example.com:6443', 'api.example.com', '6443', true],
    ['example.com:6443', 'api.example.com', '443', false],
    [' Other.org , EXAMPLE.com ', 'api.example.com', '443', true],
    ['10.0.0.0/8', '10.200.0.1', '443', true],
    ['10.0.0.0/8', '11.0.0.1', '443', false],
    ['10.0.0.1', '10.0.0.1', '443', true],
    ['10.0.0.1:6443', '10.0.0.1', '443', false],
    ['fd00::/8', 'fd00::1', '443', true],
    ['[fd00::1]:443', 'fd00::1', '443', true],
    ['fd00::1', 'fd00:0::1', '443', true],
    ['10.0.0.0/8', 'ten.example', '443', false],
    ['', 'example.com', '443', false],
  ];
  for (const [list, host, port, expected] of cases) {
    test(`NO_PROXY "${list}" ${expected ? 'matches' : 'does not match'} ${host}:${port}`, () => {
      assert.equal(noProxyMatches(list, host, port), expected);
    });
  }
});
