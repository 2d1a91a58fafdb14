import { join, resolve } from 'node:path';
import { type Command, contextFlag, parseDuration, parseInteger, UsageError } from '../cli/command.js';
import { crdsCommand } from '../cli/crds-command.js';
import { KubeClient } from '../runtime/client/client.js';
import { HealthServer } from '../runtime/health-server.js';
import { componentLogger } from '../runtime/log.js';
import { conductorCrds } from './crds.js';
import { ConductorLoop, exitCode, type PorchMode } from './loop.js';
import { BUNDLED_SCHEMA, IntentValidator } from './schema.js';

/** How long a replica's claims outlive it: well above a slow submission with its retries. */
const DEFAULT_CLAIM_TIMEOUT = '30s';

const loopCommand: Command = {
  name: 'conductor-loop',
  summary:
    'Watch a handoff directory for intent-*.json files, validate them against the intent schema, and submit them as NetworkIntent resources in batches.',
  options: {
    'handoff-dir': {
      type: 'string',
      description: 'directory watched for intent-*.json',
      default: './handoff',
      env: 'CONDUCTOR_HANDOFF_DIR',
    },
    'error-dir': {
      type: 'string',
      description: 'directory for <file>.<timestamp>.error reports (default: <handoff-dir>/errors)',
      env: 'CONDUCTOR_ERROR_DIR',
    },
    schema: {
      type: 'string',
      description:
        'JSON Schema (draft-07) intents are validated against (default: the bundled docs/contracts/intent.schema.json)',
      env: 'CONDUCTOR_SCHEMA',
    },
    'batch-size': {
      type: 'string',
      description: 'flush a batch at this many intents',
      default: '10',
      env: 'CONDUCTOR_BATCH_SIZE',
    },
    'batch-interval': {
      type: 'string',
      description: 'flush a batch this long after its first intent',
      default: '5s',
      env: 'CONDUCTOR_BATCH_INTERVAL',
    },
    'porch-mode': {
      type: 'string',
      description: 'structured | direct: what --out writes (a NetworkIntent, or the raw intent)',
      default: 'structured',
      env: 'CONDUCTOR_PORCH_MODE',
    },
    'use-processor': {
      type: 'boolean',
      description: 'accepted for compatibility; the processor pipeline is the only one',
      default: true,
      env: 'CONDUCTOR_USE_PROCESSOR',
    },
    workers: {
      type: 'string',
      description: 'concurrent submissions',
      default: '2',
      env: 'CONDUCTOR_WORKERS',
    },
    debounce: {
      type: 'string',
      description: 'quiet time after the last write before a file is read',
      default: '100ms',
      env: 'CONDUCTOR_DEBOUNCE',
    },
    once: {
      type: 'boolean',
      description:
        'process the files present, then exit (0 done, 1 some failed, 3 some not submitted yet: API server unreachable, namespace or CRD missing)',
      default: false,
      env: 'CONDUCTOR_ONCE',
    },
    period: {
      type: 'string',
      description:
        'rescan the directory and retry queued intents this often (0: on file events, retries every 5s)',
      default: '0s',
      env: 'CONDUCTOR_PERIOD',
    },
    'metrics-port': {
      type: 'string',
      description: 'port for /metrics, /healthz and /readyz (0 disables)',
      default: '8080',
      env: 'CONDUCTOR_METRICS_PORT',
    },
    out: {
      type: 'string',
      description: 'also write each intent as KRM YAML into this directory',
      env: 'CONDUCTOR_OUT',
    },
    kubeconfig: {
      type: 'string',
      description: 'kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)',
      env: 'CONDUCTOR_KUBECONFIG',
    },
    context: contextFlag,
    'claim-timeout': {
      type: 'string',
      description: "take over a crashed replica's files after its claims are this old",
      default: DEFAULT_CLAIM_TIMEOUT,
      env: 'CONDUCTOR_CLAIM_TIMEOUT',
    },
  },
  async run(opts) {
    const str = (k: string) => opts[k] as string;
    const porchMode = str('porch-mode');
    if (porchMode !== 'structured' && porchMode !== 'direct') {
      throw new UsageError(`--porch-mode: "${porchMode}" must be structured or direct`);
    }
    const batchSize = parseInteger(str('batch-size'), 'batch-size', 1, 10_000);
    const batchIntervalMs = parseDuration(str('batch-interval'), 'batch-interval');
    if (batchIntervalMs <= 0) throw new UsageError('--batch-interval: must be greater than 0');
    const workers = parseInteger(str('workers'), 'workers', 1, 256);
    const debounceMs = parseDuration(str('debounce'), 'debounce');
    const periodMs = parseDuration(str('period'), 'period');
    const claimTimeoutMs = parseDuration(str('claim-timeout'), 'claim-timeout');
    if (claimTimeoutMs < 1000) throw new UsageError('--claim-timeout: must be at least 1s');
    const metricsPort = parseInteger(str('metrics-port'), 'metrics-port', 0, 65535);
    const once = opts['once'] === true;
    const handoffDir = resolve(str('handoff-dir'));
    // Beside the intents they report on, wherever those are watched.
    const errorDir = resolve((opts['error-dir'] as string | undefined) ?? join(handoffDir, 'errors'));
    const schemaPath = opts['schema'] as string | undefined;
    const validator = IntentValidator.load(schemaPath ?? BUNDLED_SCHEMA);
    const client = await KubeClient.load((opts['kubeconfig'] as string | undefined) || undefined, {
      context: opts['context'] as string | undefined,
      fieldManager: 'conductor-loop',
      userAgent: 'conductor-loop',
    });

    const log = componentLogger('conductor-loop');
    log.info({ processor: true }, 'Using IntentProcessor pattern (new approach)');
    log.info(
      { handoffDir, errorDir, mode: porchMode, batchSize, batchInterval: str('batch-interval') },
      'Starting conductor-loop:',
    );
    log.info({ handoffDir }, `  Watching: ${handoffDir}`);
    log.info({ errorDir }, `  Errors: ${errorDir}`);
    log.info({ mode: porchMode }, `  Mode: ${porchMode}`);
    log.info({ batchSize, batchIntervalMs }, `  Batch: size=${batchSize}, interval=${str('batch-interval')}`);
    log.info(
      { workers, debounceMs, once, periodMs, metricsPort, schema: validator.source },
      `Configuration: workers=${workers}, debounce=${str('debounce')}, once=${once}, period=${str('period')}, metrics_port=${metricsPort}, processor=true`,
    );

    const loop = new ConductorLoop({
      handoffDir,
      errorDir,
      validator,
      client,
      batchSize,
      batchIntervalMs,
      porchMode: porchMode as PorchMode,
      workers,
      debounceMs,
      periodMs,
      claimTimeoutMs,
      ...(opts['out'] ? { outDir: resolve(str('out')) } : {}),
      logger: log,
    });

    const health = metricsPort > 0 ? new HealthServer({ port: metricsPort }) : undefined;
    health?.addHealthCheck('loop', () => true);
    health?.addReadyCheck('watching', () => loop.ready);
    // A port already taken is a configuration mistake: say which flag chose it.
    if (health) {
      await health.start().catch((err: Error) => {
        client.close();
        throw new Error(`--metrics-port ${metricsPort}: ${err.message}`);
      });
    }
    // SIGTERM and SIGINT stop the loop in order, --once too: what is batched is submitted, what is
    // unfinished is left unrecorded and its claims released, for the next start or another replica.
    let stopping: Promise<void> | undefined;
    let stopped: () => void = () => {};
    const onSignal = (signal: string) => {
      log.info({ signal }, `received ${signal}; shutting down`);
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      stopping = loop.stop().then(() => stopped());
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    try {
      if (once) {
        const summary = await loop.runOnce();
        await stopping;
        const code = exitCode(summary);
        log.info({ ...summary, exitCode: code }, 'conductor-loop finished (--once)');
        return code;
      }
      await loop.start();
      await new Promise<void>((done) => {
        stopped = done;
        if (stopping) void stopping.then(done);
      });
      return 0;
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      await health?.stop();
      client.close();
    }
  },
};

/** The conductor module's `tutti` subcommands. */
export const conductorCommands: Command[] = [
  loopCommand,
  crdsCommand(
    'conductor',
    'Print the NetworkIntent CRD, or write it into a directory (config/crd).',
    conductorCrds,
  ),
];
