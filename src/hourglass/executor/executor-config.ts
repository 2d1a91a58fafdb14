import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { parseDuration } from '../../cli/command.js';
import { closest } from '../../runtime/suggest.js';
import type { KubernetesConfig } from './kubernetes-config.js';
import { kubernetesConfig } from './kubernetes-config.js';

/** The deployment modes the seed's executor knew; Tutti runs performers on Kubernetes only. */
export const DEPLOYMENT_MODES = ['kubernetes', 'docker'] as const;

export interface AvsPerformerConfig {
  avsAddress: string;
  image: string;
  version?: string;
  deploymentMode: 'kubernetes';
  kubernetes: KubernetesConfig;
}

export interface ExecutorConfig {
  /** Port of the executor's task API. */
  grpcPort: number;
  avsPerformers: AvsPerformerConfig[];
}

/** The executor's task API port when the config names none. */
export const DEFAULT_EXECUTOR_PORT = 9090;

type Raw = Record<string, unknown>;

/** Reads and validates an executor config file (YAML or JSON). */
export async function loadExecutorConfig(path: string): Promise<ExecutorConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`executor config ${path}: ${(err as Error).message}`);
  }
  try {
    return parseExecutorConfig(parse(text) as unknown);
  } catch (err) {
    throw new Error(`executor config ${path}: ${(err as Error).message}`);
  }
}

/**
 * Validates a parsed executor config. Images are `image: repo:tag` or the seed's
 * `image: {repository, tag}`; per-performer `kubernetes` settings override the top-level ones.
 * `deploymentMode` defaults to kubernetes; the seed's docker mode and configs mixing modes are
 * rejected with the reason.
 */
export function parseExecutorConfig(raw: unknown): ExecutorConfig {
  if (!isObject(raw)) throw new Error('the config must be a mapping with avsPerformers');
  rejectUnknownKeys(raw, TOP_LEVEL_KEYS, '');
  const performers = raw['avsPerformers'];
  if (!Array.isArray(performers) || performers.length === 0)
    throw new Error('avsPerformers must list at least one performer');

  const modes = performers.map((p: unknown, i) => {
    const mode = isObject(p) ? (p['deploymentMode'] ?? 'kubernetes') : 'kubernetes';
    if (typeof mode !== 'string' || !(DEPLOYMENT_MODES as readonly string[]).includes(mode))
      throw new Error(
        `avsPerformers[${i}].deploymentMode "${String(mode)}" is not one of ${DEPLOYMENT_MODES.join(', ')}`,
      );
    return mode;
  });
  if (new Set(modes).size > 1)
    throw new Error(
      `avsPerformers mix deployment modes (${modes.map((m, i) => `[${i}] ${m}`).join(', ')}): one executor runs all its performers in one mode`,
    );
  if (modes[0] === 'docker')
    throw new Error(
      'deploymentMode docker is not supported: this executor runs performers as Kubernetes Performer resources; set deploymentMode: kubernetes',
    );

  if (raw['kubernetes'] !== undefined && !isObject(raw['kubernetes']))
    throw new Error('kubernetes must be a mapping');
  const shared = (raw['kubernetes'] as Raw | undefined) ?? {};
  // Checked on its own first, so that its faults are named where they are.
  const sharedFields = kubernetesFields(shared, 'kubernetes');
  try {
    kubernetesConfig(sharedFields);
  } catch (err) {
    throw new Error(`kubernetes: ${(err as Error).message}`);
  }
  const grpcPort = raw['grpcPort'] ?? DEFAULT_EXECUTOR_PORT;
  if (!Number.isInteger(grpcPort) || (grpcPort as number) < 1 || (grpcPort as number) > 65535)
    throw new Error(`grpcPort ${String(grpcPort)} is not a port (1-65535)`);

  const seen = new Set<string>();
  const avsPerformers = performers.map((p: unknown, i): AvsPerformerConfig => {
    const at = `avsPerformers[${i}]`;
    if (!isObject(p)) throw new Error(`${at} must be a mapping`);
    rejectUnknownKeys(p, PERFORMER_KEYS, `${at}.`);
    const avsAddress = p['avsAddress'];
    if (avsAddress !== undefined && typeof avsAddress !== 'string')
      throw new Error(
        `${at}.avsAddress must be a string, got the ${typeof avsAddress} ${String(avsAddress)}: quote it (avsAddress: "0x…"), as YAML reads an unquoted 0x… as a number`,
      );
    if (typeof avsAddress !== 'string' || !avsAddress.trim()) throw new Error(`${at}.avsAddress is required`);
    if (seen.has(avsAddress.toLowerCase())) throw new Error(`${at}.avsAddress ${avsAddress} is listed twice`);
    seen.add(avsAddress.toLowerCase());
    const { image, version } = imageOf(p, at);
    if (p['kubernetes'] !== undefined && !isObject(p['kubernetes']))
      throw new Error(`${at}.kubernetes must be a mapping`);
    const own = kubernetesFields((p['kubernetes'] as Raw | undefined) ?? {}, `${at}.kubernetes`);
    const defined = (f: Partial<KubernetesConfig>) =>
      Object.fromEntries(Object.entries(f).filter(([, v]) => v !== undefined));
    let kubernetes: KubernetesConfig;
    try {
      kubernetes = kubernetesConfig({ ...defined(sharedFields), ...defined(own) });
    } catch (err) {
      throw new Error(`${at}.kubernetes: ${(err as Error).message}`);
    }
    return { avsAddress, image, ...(version ? { version } : {}), deploymentMode: 'kubernetes', kubernetes };
  });
  return { grpcPort: grpcPort as number, avsPerformers };
}

function imageOf(p: Raw, at: string): { image: string; version?: string } {
  const image = p['image'];
  const version = p['version'];
  if (version !== undefined && typeof version !== 'string') throw new Error(`${at}.version must be a string`);
  if (typeof image === 'string' && image.trim()) {
    // The Performer CRD refuses both, as the version is the image's tag.
    if (version && (image.includes('@') || /:[^/]*$/.test(image)))
      throw new Error(`${at}.version: ${image} already has a tag or digest; give the version in one place`);
    return { image, ...(version ? { version } : {}) };
  }
  if (isObject(image)) {
    rejectUnknownKeys(image, IMAGE_KEYS, `${at}.image.`);
    const repository = image['repository'];
    const tag = image['tag'];
    if (typeof repository !== 'string' || !repository.trim())
      throw new Error(`${at}.image.repository is required`);
    if (tag !== undefined && typeof tag !== 'string') throw new Error(`${at}.image.tag must be a string`);
    const v = version ?? tag;
    return { image: repository, ...(v ? { version: v } : {}) };
  }
  throw new Error(`${at}.image is required (a reference, or {repository, tag})`);
}

const KUBERNETES_FIELDS = new Set([
  'namespace',
  'operatorNamespace',
  'grpcPort',
  'connectionTimeout',
  'retryAttempts',
  'retryDelay',
  'serviceAccountName',
  'kubeconfig',
  'context',
]);

const TOP_LEVEL_KEYS = new Set(['grpcPort', 'kubernetes', 'avsPerformers']);
const PERFORMER_KEYS = new Set(['avsAddress', 'image', 'version', 'deploymentMode', 'kubernetes']);
const IMAGE_KEYS = new Set(['repository', 'tag']);

/** A misspelt key would otherwise be ignored silently, and its setting with it. */
function rejectUnknownKeys(raw: Raw, known: Set<string>, prefix: string): void {
  for (const key of Object.keys(raw)) {
    if (known.has(key)) continue;
    const near = closest(key, [...known]);
    throw new Error(
      `unknown key ${prefix}${key}${near ? ` (did you mean ${near}?)` : ''}; known keys here: ${[...known].join(', ')}`,
    );
  }
}

/** The fields of one `kubernetes` block, each fault named under `at` (e.g. `kubernetes.retryDelay`). */
function kubernetesFields(raw: Raw, at: string): Partial<KubernetesConfig> {
  rejectUnknownKeys(raw, KUBERNETES_FIELDS, `${at}.`);
  const duration = (key: string): number | undefined => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (typeof v === 'number') return v * 1000; // bare numbers are seconds, as in the seed's YAML
    if (typeof v !== 'string') throw new Error(`${at}.${key} must be a duration such as 30s`);
    try {
      return parseDuration(v, key);
    } catch {
      throw new Error(`${at}.${key} "${v}" is not a duration (examples: 500ms, 30s, 1m)`);
    }
  };
  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v !== undefined && typeof v !== 'string') throw new Error(`${at}.${key} must be a string`);
    return v as string | undefined;
  };
  const int = (key: string): number | undefined => {
    const v = raw[key];
    if (v !== undefined && typeof v !== 'number') throw new Error(`${at}.${key} must be a number`);
    return v as number | undefined;
  };
  return {
    namespace: str('namespace'),
    operatorNamespace: str('operatorNamespace'),
    grpcPort: int('grpcPort'),
    connectionTimeoutMs: duration('connectionTimeout'),
    retryAttempts: int('retryAttempts'),
    retryDelayMs: duration('retryDelay'),
    serviceAccountName: str('serviceAccountName'),
    kubeconfig: str('kubeconfig'),
    context: str('context'),
  } as Partial<KubernetesConfig>;
}

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
