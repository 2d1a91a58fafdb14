import { BlockList, isIP } from 'node:net';

/**
 * The proxy the environment names for an https URL, by the rules of Go's ProxyFromEnvironment,
 * which kubectl and every client-go program follow when a kubeconfig has no `proxy-url`:
 * `HTTPS_PROXY` (or `https_proxy`), a value without a scheme read as `http://`; never for
 * `localhost` or a loopback address; not for a host `NO_PROXY` (or `no_proxy`) matches.
 */
export function proxyFromEnvironment(
  server: URL,
  env: NodeJS.ProcessEnv,
): { variable: string; value: string } | undefined {
  const variable = ['HTTPS_PROXY', 'https_proxy'].find((v) => env[v]);
  if (!variable) return undefined;
  const host = server.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = server.port || '443';
  if (host === 'localhost' || isLoopback(host)) return undefined;
  if (noProxyMatches(env['NO_PROXY'] || env['no_proxy'] || '', host, port)) return undefined;
  const value = env[variable]!;
  return { variable, value: value.includes('://') ? value : `http://${value}` };
}

function isLoopback(host: string): boolean {
  const family = isIP(host);
  if (family === 4) return host.startsWith('127.');
  return family === 6 && (sameAddress(host, '::1') || host.startsWith('::ffff:127.'));
}

/**
 * Whether a NO_PROXY list names `host:port`: `*`; an IP or CIDR; a domain, which matches itself
 * and its subdomains (`.domain` and `*.domain` only the subdomains); each optionally with a port.
 */
export function noProxyMatches(list: string, host: string, port: string): boolean {
  const family = isIP(host);
  for (const raw of list.split(',')) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') return true;
    const [address, bits] = entry.split('/');
    if (bits !== undefined) {
      const entryFamily = isIP(address!);
      if (family && entryFamily === family) {
        const type = family === 4 ? 'ipv4' : 'ipv6';
        const cidr = new BlockList();
        cidr.addSubnet(address!, Number(bits), type);
        if (cidr.check(host, type)) return true;
      }
      continue;
    }
    let [name, entryPort] = splitPort(entry);
    if (entryPort && entryPort !== port) continue;
    if (isIP(name)) {
      if (family && sameAddress(name, host)) return true;
      continue;
    }
    if (name.startsWith('*.')) name = name.slice(1);
    if (name.startsWith('.') ? host.endsWith(name) : host === name || host.endsWith(`.${name}`)) return true;
  }
  return false;
}

/** `host:port`, `[v6]:port`, or a bare host or IPv6 address (no port). */
function splitPort(entry: string): [string, string | undefined] {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
  if (bracketed) return [bracketed[1]!, bracketed[2]];
  if (isIP(entry) === 6) return [entry, undefined];
  const colon = entry.lastIndexOf(':');
  return colon > 0 ? [entry.slice(0, colon), entry.slice(colon + 1)] : [entry, undefined];
}

function sameAddress(a: string, b: string): boolean {
  const family = isIP(a);
  if (family !== isIP(b)) return false;
  const list = new BlockList();
  list.addAddress(a, family === 4 ? 'ipv4' : 'ipv6');
  return list.check(b, family === 4 ? 'ipv4' : 'ipv6');
}
