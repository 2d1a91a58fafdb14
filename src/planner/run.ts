import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_QUERIES, type DefaultQuery } from '../apis/ido.intel.com/kpi-profile.js';
import { type OptionSpec, type OptionValues, UsageError } from '../cli/command.js';
import { ConfigError, DEFAULT_CONFIG, type PlannerConfig, parsePlannerConfig } from './config.js';
import { ACTUATOR_NAMES } from './controller.js';

/** The planner's settings files, read at start: IDO's defaults.json and default_queries.json. */
export interface PlannerFiles {
  config: PlannerConfig;
  defaultQueries: Record<string, DefaultQuery>;
  /** Where the queries came from: a path, `built-in` or `none`. */
  queriesSource?: string;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`${what} ${path}: ${nodeReason(err)}`);
  }
}

/** Node's message without the syscall and path: "ENOENT: no such file or directory, open '…'". */
function nodeReason(err: unknown): string {
  return (err as Error).message.replace(/, \w+( '.*')?$/, '');
}

/** Parses default_queries.json: `<namespace>/<profile>` → {query, endpoint}. */
export function parseDefaultQueries(text: string, source: string): Record<string, DefaultQuery> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid JSON: ${(err as Error).message}`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(`${source}: must be a JSON object`);
  const out: Record<string, DefaultQuery> = {};
  for (const [k, v] of Object.entries(raw)) {
    const e = v as Partial<DefaultQuery> | null;
    if (!k.includes('/')) throw new ConfigError(`${source}: key "${k}" is not <namespace>/<profile>`);
    if (
      !e ||
      typeof e !== 'object' ||
      typeof (e.query ?? '') !== 'string' ||
      typeof (e.endpoint ?? '') !== 'string'
    )
      throw new ConfigError(`${source}: "${k}" must be {"query": string, "endpoint": string}`);
    out[k] = { query: e.query ?? '', endpoint: e.endpoint ?? '' };
  }
  return out;
}

/**
 * Loads the config (IDO's defaults when `configPath` is empty) and the default queries:
 * `queriesPath` when given (empty: none, so each profile needs its own query and endpoint),
 * else the config's `monitor.profile.queries`, else IDO's defaults built in.
 */
export async function loadPlannerFiles(configPath: string, queriesPath?: string): Promise<PlannerFiles> {
  const config = configPath
    ? parsePlannerConfig(await readText(configPath, 'config'), configPath)
    : DEFAULT_CONFIG;
  if (queriesPath === undefined) {
    // The configured file (IDO mounts the queries ConfigMap there) or, when it is absent, IDO's
    // default queries built in: the same content the seed's ConfigMap carries.
    const path = config.monitor.profile.queries;
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new ConfigError(`monitor.profile.queries ${path}: ${nodeReason(err)}`);
      return { config, defaultQueries: { ...DEFAULT_QUERIES }, queriesSource: 'built-in' };
    }
    return { config, defaultQueries: parseDefaultQueries(text, path) };
  }
  const defaultQueries = queriesPath
    ? parseDefaultQueries(await readText(queriesPath, 'queries file'), queriesPath)
    : {};
  return { config, defaultQueries, queriesSource: queriesPath || 'none' };
}

/** Flags shared by `tutti planner` and the planner module of `tutti operator`. */
export const plannerFileOptions = (prefix: string): Record<string, OptionSpec> => ({
  [`${prefix}config`]: {
    type: 'string',
    description: "IDO's defaults.json (the planner-configmap); empty: IDO's built-in defaults",
    default: '',
    env: 'PLANNER_CONFIG',
  },
  [`${prefix}queries`]: {
    type: 'string',
    description:
      "default_queries.json (the planner-queries-configmap); default: the config's monitor.profile.queries if present, else IDO's built in; empty: none",
    env: 'PLANNER_QUERIES',
  },
  [`${prefix}trace-dir`]: {
    type: 'string',
    description:
      'directory of the embedded trace store (planning events and fitted models, JSON lines), used when generic.mongo_endpoint is empty',
    default: join(tmpdir(), 'tutti-planner-traces'),
    env: 'PLANNER_TRACE_DIR',
  },
  [`${prefix}actuator`]: {
    type: 'string',
    multiple: true,
    description: 'enable only this in-process actuator (repeatable): scale_out, scale_in, rm_pod, cpu_scale',
  },
});

/** The planner's file flags; an unknown actuator is the user's to fix before anything starts. */
export function plannerFileValues(o: OptionValues, prefix: string) {
  const actuators = o[`${prefix}actuator`] as string[] | undefined;
  const unknown = actuators?.find((a) => !(ACTUATOR_NAMES as readonly string[]).includes(a));
  if (unknown !== undefined)
    throw new UsageError(
      `--${prefix}actuator: unknown actuator "${unknown}"; choose from ${ACTUATOR_NAMES.join(', ')}`,
    );
  return {
    configPath: (o[`${prefix}config`] as string | undefined) ?? '',
    queriesPath: o[`${prefix}queries`] as string | undefined,
    traceDir: o[`${prefix}trace-dir`] as string,
    actuators,
  };
}
