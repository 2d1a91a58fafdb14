import { Ajv, type ErrorObject } from 'ajv';

/**
 * The planner's configuration in IDO's `defaults.json` shape (the planner-configmap), keys
 * unchanged, every value bounds-checked at load. `actuators` is Tutti's addition: the settings
 * that IDO kept in each actuator plugin's own ConfigMap, under the same keys.
 */
export interface PlannerConfig {
  generic: {
    /** Selects the trace store: a mongodb:// URI for MongoDB, empty for the embedded store. */
    mongo_endpoint: string;
  };
  controller: {
    workers: number;
    task_channel_length: number;
    informer_timeout: number;
    controller_timeout: number;
    plan_cache_ttl: number;
    plan_cache_timeout: number;
    telemetry_endpoint: string;
    host_field: string;
    metrics: { name: string; query: string }[];
  };
  monitor: {
    pod: { workers: number };
    profile: { workers: number; queries: string };
    intent: { workers: number };
  };
  planner: {
    astar: {
      opportunistic_candidates: number;
      max_states: number;
      max_candidates: number;
      plugin_manager_endpoint: string;
      plugin_manager_port: number;
    };
  };
  actuators: {
    scale_out: ScaleOutConfig;
    rm_pod: RmPodConfig;
    cpu_scale: CpuScaleConfig;
  };
}

export interface ScaleOutConfig {
  max_pods: number;
  /** Tutti: the fewest replicas scaling in leaves. */
  min_pods: number;
  /** How many traced events (most recent first) the model is fitted on. */
  look_back: number;
  max_proactive_scale_out: number;
  proactive_latency_factor: number;
}

export interface RmPodConfig {
  min_pods: number;
  look_back: number;
}

export interface CpuScaleConfig {
  /** Most millicores a container gets. */
  cpu_max: number;
  /** Requests are rounded up to a multiple of this (millicores). */
  cpu_rounding: number;
  cpu_safeguard_factor: number;
  /** limit = request × boost_factor. */
  boost_factor: number;
  look_back: number;
  max_proactive_cpu: number;
  proactive_latency_percentage: number;
  /** Tutti: the container to resize; the pod template's last container when empty. */
  container: string;
}

/**
 * IDO's shipped defaults; the numbers are theirs. One exception: without a configuration the
 * trace store is the embedded one, which needs no server; IDO's defaults.json (as shipped in
 * deploy/ido) names its MongoDB service and so selects MongoDB.
 */
export const DEFAULT_CONFIG: PlannerConfig = {
  generic: { mongo_endpoint: '' },
  controller: {
    workers: 4,
    task_channel_length: 100,
    informer_timeout: 30,
    controller_timeout: 45,
    plan_cache_ttl: 45000,
    plan_cache_timeout: 5000,
    telemetry_endpoint: 'http://prometheus-service.telemetry:9090/api/v1/query',
    host_field: 'exported_instance',
    metrics: [],
  },
  monitor: {
    pod: { workers: 2 },
    profile: { workers: 2, queries: '/queries/default_queries.json' },
    intent: { workers: 2 },
  },
  planner: {
    astar: {
      opportunistic_candidates: 0,
      max_states: 2000,
      max_candidates: 10,
      plugin_manager_endpoint: 'plugin-manager-service',
      plugin_manager_port: 33333,
    },
  },
  actuators: {
    scale_out: {
      max_pods: 128,
      min_pods: 1,
      look_back: 20,
      max_proactive_scale_out: 0,
      proactive_latency_factor: 0.8,
    },
    rm_pod: { min_pods: 1, look_back: 20 },
    cpu_scale: {
      cpu_max: 4000,
      cpu_rounding: 100,
      cpu_safeguard_factor: 0.95,
      boost_factor: 1.0,
      look_back: 20,
      max_proactive_cpu: 0,
      proactive_latency_percentage: 0.1,
      container: '',
    },
  },
};

const int = (minimum: number, maximum: number) => ({ type: 'integer', minimum, maximum });
const num = (minimum: number, maximum: number) => ({ type: 'number', minimum, maximum });
const str = { type: 'string' };
const obj = (properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  properties,
});

const schema = obj({
  generic: obj({ mongo_endpoint: str }),
  controller: obj({
    workers: int(1, 1024),
    task_channel_length: int(1, 1_000_000),
    informer_timeout: int(1, 86_400),
    controller_timeout: int(1, 86_400),
    plan_cache_ttl: int(0, 86_400_000),
    plan_cache_timeout: int(0, 86_400_000),
    telemetry_endpoint: str,
    host_field: str,
    metrics: {
      type: 'array',
      items: { type: 'object', required: ['name', 'query'], properties: { name: str, query: str } },
    },
  }),
  monitor: obj({
    pod: obj({ workers: int(1, 1024) }),
    profile: obj({ workers: int(1, 1024), queries: str }),
    intent: obj({ workers: int(1, 1024) }),
  }),
  planner: obj({
    astar: obj({
      opportunistic_candidates: int(0, 1000),
      max_states: int(1, 10_000_000),
      max_candidates: int(1, 10_000),
      plugin_manager_endpoint: str,
      plugin_manager_port: int(0, 65535),
    }),
  }),
  actuators: obj({
    scale_out: obj({
      max_pods: int(1, 100_000),
      min_pods: int(0, 100_000),
      look_back: int(1, 100_000),
      max_proactive_scale_out: int(0, 100_000),
      proactive_latency_factor: num(0, 1),
    }),
    rm_pod: obj({ min_pods: int(0, 100_000), look_back: int(1, 100_000) }),
    cpu_scale: obj({
      cpu_max: int(1, 1_000_000),
      cpu_rounding: int(1, 1_000_000),
      cpu_safeguard_factor: num(0.01, 1),
      boost_factor: num(1, 100),
      look_back: int(1, 100_000),
      max_proactive_cpu: int(0, 1_000_000),
      proactive_latency_percentage: num(0, 1),
      container: str,
    }),
  }),
});

const validate = new Ajv({ allErrors: true }).compile(schema);

export class ConfigError extends Error {
  override name = 'ConfigError';
}

function describe(e: ErrorObject): string {
  const path = e.instancePath.slice(1).replace(/\//g, '.');
  if (e.keyword === 'additionalProperties') {
    const key = (e.params as { additionalProperty: string }).additionalProperty;
    // The scaling pair share IDO's scale_out plugin settings; say so instead of a bare "unknown".
    const hint =
      path === 'actuators' && key === 'scale_in' ? ' (scale_in takes its settings from scale_out)' : '';
    return `${path ? `${path}.` : ''}${key}: unknown key${hint}`;
  }
  return `${path || '(root)'}: ${e.message}`;
}

type Partialish<T> = { [K in keyof T]?: T[K] extends object ? Partialish<T[K]> : T[K] };

function merge<T>(base: T, over: unknown): T {
  if (over === undefined || over === null || typeof over !== 'object' || Array.isArray(over))
    return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = b && typeof b === 'object' && !Array.isArray(b) ? merge(b, v) : v;
  }
  return out as T;
}

/**
 * Parses a `defaults.json` (IDO's format): missing keys take IDO's defaults, unknown keys and
 * out-of-range values are errors naming the key.
 */
export function parsePlannerConfig(
  json: string | Partialish<PlannerConfig>,
  source = 'config',
): PlannerConfig {
  let raw: unknown = json;
  if (typeof json === 'string') {
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw new ConfigError(`${source}: not valid JSON: ${(err as Error).message}`);
    }
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new ConfigError(`${source}: must be a JSON object`);
  if (!validate(raw)) throw new ConfigError(`${source}: ${validate.errors!.map(describe).join('; ')}`);
  const config = merge(DEFAULT_CONFIG, raw);
  const mongo = config.generic.mongo_endpoint.trim();
  if (mongo && !/^mongodb(\+srv)?:\/\/[^/?]+/.test(mongo))
    throw new ConfigError(
      `${source}: generic.mongo_endpoint: "${mongo}" is not a mongodb:// URI (leave it empty for the embedded trace store)`,
    );
  const s = config.actuators.scale_out;
  if (s.min_pods > s.max_pods)
    throw new ConfigError(
      `${source}: actuators.scale_out.min_pods (${s.min_pods}) exceeds max_pods (${s.max_pods})`,
    );
  const c = config.actuators.cpu_scale;
  if (c.cpu_rounding > c.cpu_max)
    throw new ConfigError(
      `${source}: actuators.cpu_scale.cpu_rounding (${c.cpu_rounding}) exceeds cpu_max (${c.cpu_max})`,
    );
  return config;
}
