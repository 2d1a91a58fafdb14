import * as grpc from '@grpc/grpc-js';
import { componentLogger } from '../../runtime/log.js';
import type { Actuator } from '../actuator.js';
import { WorkloadChangedError } from '../workload.js';
import {
  ActuatorPluginClient,
  actionFromWire,
  candidateToWire,
  type EffectRequestMessage,
  goalFromWire,
  type NextStateRequestMessage,
  type NextStateResponseMessage,
  type PerformRequestMessage,
  PluginManagerClient,
  PROTOCOL_VERSION,
  ProtocolError,
  type RegisterResponseMessage,
  stateFromWire,
  WORKLOAD_CHANGED,
} from './wire.js';

export interface ServePluginOptions {
  /** `host:port` of the planner's plugin manager (plugin-manager-service:33333 in a cluster). */
  manager: string;
  /** Port to serve ActuatorPlugin on; 0 picks a free one. */
  port: number;
  /** Address to bind (all interfaces by default). */
  host?: string;
  /** The host or IP the planner dials to reach this plugin (the pod IP in a cluster). */
  advertise: string;
  /** How long to wait for the manager to accept the registration. */
  registerTimeoutMs?: number;
}

export interface ServedPlugin {
  readonly port: number;
  /** What the manager answered: its deadlines for our calls. */
  readonly registration: RegisterResponseMessage;
  /** Deregisters (best effort) and stops serving, letting calls in flight finish. */
  close(): Promise<void>;
  /** Stops at once without deregistering: a crash as the planner sees it. */
  kill(): void;
}

/**
 * Why a Register call failed, as a person reads it. grpc-js words an unreachable manager as
 * `No connection established. Last error: Error: connect ECONNREFUSED …. Resolution note: `;
 * that becomes `cannot reach it: connect ECONNREFUSED …`.
 */
export function registerFailure(err: grpc.ServiceError): string {
  if (err.code === grpc.status.DEADLINE_EXCEEDED) return 'no answer in time';
  const details = err.details || err.message;
  if (err.code !== grpc.status.UNAVAILABLE) return details;
  const cause = /Last error: (?:Error: )?(.*?)\.?(?:\s*Resolution note:.*)?$/s.exec(details)?.[1];
  return `cannot reach it: ${cause || details}`;
}

/**
 * Serves any `Actuator` as a plugin (plugin.proto's ActuatorPlugin) and registers it with the
 * planner's plugin manager. Registration happens only once the service is up, because the
 * manager checks that it can reach the plugin before it accepts it. The actuator gets
 * `state.target.generation` as the planner observed it (undefined from a planner that sends
 * none); a `WorkloadChangedError` from its perform answers ABORTED, which the planner takes as
 * "the workload changed, nothing done" and drops the plan.
 */
export async function servePlugin(actuator: Actuator, opts: ServePluginOptions): Promise<ServedPlugin> {
  const log = componentLogger('plugin', { plugin: actuator.name });
  const server = new grpc.Server();
  const failed = (method: string, err: unknown): grpc.ServiceError => {
    const bad = err instanceof ProtocolError;
    // Only Perform acts on the workload; the planner drops the plan for this code, not a fault.
    const changed = method === 'Perform' && err instanceof WorkloadChangedError;
    const message = (err as Error).message ?? String(err);
    if (changed) log.info({ method, err: message }, 'not carried out: the workload changed');
    else if (!bad) log.error({ err, method }, 'actuator call failed');
    return Object.assign(new Error(message), {
      code: changed ? WORKLOAD_CHANGED : bad ? grpc.status.INVALID_ARGUMENT : grpc.status.INTERNAL,
      details: message,
      metadata: new grpc.Metadata(),
    });
  };
  server.addService(ActuatorPluginClient.service, {
    NextState: (
      call: grpc.ServerUnaryCall<NextStateRequestMessage, NextStateResponseMessage>,
      cb: grpc.sendUnaryData<NextStateResponseMessage>,
    ) => {
      (async () => {
        const { state, goal, limit } = call.request;
        const candidates = await actuator.nextState(stateFromWire(state), goalFromWire(goal), limit || 1);
        return { candidates: candidates.slice(0, limit || 1).map(candidateToWire) };
      })().then(
        (res) => cb(null, res),
        (err) => cb(failed('NextState', err)),
      );
    },
    Perform: (call: grpc.ServerUnaryCall<PerformRequestMessage, object>, cb: grpc.sendUnaryData<object>) => {
      (async () => {
        const plan = call.request.plan.map((a, i) => actionFromWire(a, `plan[${i}]`));
        await actuator.perform(stateFromWire(call.request.state), plan);
      })().then(
        () => cb(null, {}),
        (err) => cb(failed('Perform', err)),
      );
    },
    Effect: (call: grpc.ServerUnaryCall<EffectRequestMessage, object>, cb: grpc.sendUnaryData<object>) => {
      (async () => {
        await actuator.effect(stateFromWire(call.request.state), goalFromWire(call.request.goal));
      })().then(
        () => cb(null, {}),
        (err) => cb(failed('Effect', err)),
      );
    },
  });
  const host = opts.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new Error(`plugin cannot listen on ${host}:${opts.port}: ${err.message}`)) : resolve(p),
    ),
  );

  const manager = new PluginManagerClient(opts.manager, grpc.credentials.createInsecure());
  const deadline = () => ({ deadline: Date.now() + (opts.registerTimeoutMs ?? 15_000) });
  let registration: RegisterResponseMessage;
  try {
    registration = await new Promise<RegisterResponseMessage>((resolve, reject) =>
      manager['Register']!(
        {
          name: actuator.name,
          group: actuator.group,
          endpoint: opts.advertise,
          port,
          protocolVersion: PROTOCOL_VERSION,
        },
        { ...deadline(), waitForReady: true },
        (err: grpc.ServiceError | null, res: RegisterResponseMessage) =>
          err
            ? reject(
                new Error(
                  `registering "${actuator.name}" with the plugin manager at ${opts.manager} failed: ${registerFailure(err)}`,
                ),
              )
            : resolve(res),
      ),
    );
  } catch (err) {
    manager.close();
    server.forceShutdown();
    throw err;
  }
  log.info({ port, manager: opts.manager }, 'plugin registered');

  return {
    port,
    registration,
    async close() {
      await new Promise<void>((resolve) =>
        manager['Deregister']!({ name: actuator.name }, { deadline: Date.now() + 2000 }, () => resolve()),
      );
      manager.close();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
    kill() {
      manager.close();
      server.forceShutdown();
    },
  };
}
