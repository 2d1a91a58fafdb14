import * as grpc from '@grpc/grpc-js';
import { componentLogger } from '../../runtime/log.js';
import type { Actuator } from '../actuator.js';
import { type PluginSupervisor, RemoteActuator } from './remote-actuator.js';
import {
  ActuatorPluginClient,
  type DeregisterRequestMessage,
  IdoRegistrationClient,
  PluginManagerClient,
  PROTOCOL_VERSION,
  type RegisterRequestMessage,
  type RegisterResponseMessage,
} from './wire.js';

export interface PluginManagerOptions {
  /** Port to listen on (IDO's plugin_manager_port, 33333); 0 picks a free one. */
  port: number;
  /** Address to bind; all interfaces by default, so that plugins in other pods reach it. */
  host?: string;
  /** Names a plugin may not take: the in-process actuators'. */
  reserved?: readonly string[];
  /** Deadline of each NextState call; a search calls it once per expanded state. */
  nextStateTimeoutMs?: number;
  /** Deadline of Perform and Effect calls. */
  performTimeoutMs?: number;
  /** How long registration waits to reach a plugin, and a health probe waits for it. */
  connectTimeoutMs?: number;
  /** How often each plugin's connection is probed. */
  healthIntervalMs?: number;
}

/** What the manager knows of a registered plugin. */
export interface PluginInfo {
  name: string;
  group: string;
  /** `host:port` the planner dials. */
  address: string;
  registeredAt: string;
}

export type PluginEvent =
  | { type: 'registered'; plugin: PluginInfo }
  | { type: 'deregistered'; plugin: PluginInfo }
  /** The plugin stopped answering (health probe or a call failed); it must register again. */
  | { type: 'dropped'; plugin: PluginInfo; reason: string }
  /** A call failed without the plugin being gone (a bad answer, an error of its own). */
  | { type: 'call-failed'; plugin: PluginInfo; method: string; reason: string };

const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

interface Registration {
  info: PluginInfo;
  actuator: RemoteActuator;
  client: grpc.Client;
}

/**
 * The planner's side of the plugin protocol (plugin.proto): accepts registrations over gRPC and
 * presents each live plugin as an `Actuator`, next to the in-process ones. A plugin that stops
 * answering — its connection fails a health probe, or a call times out or finds it unreachable —
 * is dropped at once, so a plan never waits on it twice.
 */
export class PluginManager implements PluginSupervisor {
  private readonly log = componentLogger('plugin-manager');
  private readonly registrations = new Map<string, Registration>();
  private readonly listeners = new Set<(e: PluginEvent) => void>();
  private readonly timer: NodeJS.Timeout;
  private readonly timeouts: { nextState: number; perform: number; connect: number };

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    private readonly reserved: ReadonlySet<string>,
    opts: PluginManagerOptions,
  ) {
    this.timeouts = {
      nextState: opts.nextStateTimeoutMs ?? 2000,
      perform: opts.performTimeoutMs ?? 30_000,
      connect: opts.connectTimeoutMs ?? 5000,
    };
    this.timer = setInterval(() => void this.probeAll(), opts.healthIntervalMs ?? 5000);
    this.timer.unref();
  }

  static async start(opts: PluginManagerOptions): Promise<PluginManager> {
    const server = new grpc.Server();
    const host = opts.host ?? '0.0.0.0';
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${opts.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err
          ? reject(new Error(`plugin manager cannot listen on ${host}:${opts.port}: ${err.message}`))
          : resolve(p),
      ),
    );
    const manager = new PluginManager(server, port, new Set(opts.reserved ?? []), opts);
    server.addService(PluginManagerClient.service, {
      Register: (
        call: grpc.ServerUnaryCall<RegisterRequestMessage, RegisterResponseMessage>,
        cb: grpc.sendUnaryData<RegisterResponseMessage>,
      ) => {
        manager.register(call.request).then(
          (res) => cb(null, res),
          (err: grpc.ServiceError) => cb(err),
        );
      },
      Deregister: (
        call: grpc.ServerUnaryCall<DeregisterRequestMessage, object>,
        cb: grpc.sendUnaryData<object>,
      ) => {
        const name = call.request.name;
        if (!manager.registrations.has(name))
          return cb(status(grpc.status.NOT_FOUND, `no plugin named "${name}" is registered`));
        manager.remove(name, { type: 'deregistered' });
        cb(null, {});
      },
    });
    // An IDO plugin dialling the same port learns why it is not taken, in its own protocol.
    server.addService(IdoRegistrationClient.service, {
      Register: (
        call: grpc.ServerUnaryCall<{ pInfo: { name: string; endpoint: string } | null }, object>,
        cb: grpc.sendUnaryData<{ pluginRegistered: boolean; error: string }>,
      ) => {
        const name = call.request.pInfo?.name ?? '';
        manager.log.warn({ plugin: name, endpoint: call.request.pInfo?.endpoint }, 'IDO plugin refused');
        cb(null, {
          pluginRegistered: false,
          error: `plugin "${name}" speaks IDO's plugin protocol; this planner takes plugins that speak tutti.planner.v1 (plugin.proto)`,
        });
      },
    });
    manager.log.info({ port }, 'plugin manager listening');
    return manager;
  }

  /** The live plugins as actuators; ask again for each plan, as plugins come and go. */
  actuators(): Actuator[] {
    return [...this.registrations.values()].map((r) => r.actuator);
  }

  plugins(): PluginInfo[] {
    return [...this.registrations.values()].map((r) => r.info);
  }

  /** Listens to registrations and drops; returns the function that stops listening. */
  onEvent(listener: (e: PluginEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const r of this.registrations.values()) r.client.close();
    this.registrations.clear();
    // A plugin that hangs keeps its connection open; do not wait on it past a grace period.
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
  }

  /** A RemoteActuator found its plugin gone (only its own registration, not a newer one). */
  drop(actuator: RemoteActuator, reason: string): void {
    if (this.registrations.get(actuator.name)?.actuator === actuator)
      this.remove(actuator.name, { type: 'dropped', reason });
  }

  /** A call failed, but the plugin is still there. */
  callFailed(actuator: RemoteActuator, method: string, reason: string): void {
    const r = this.registrations.get(actuator.name);
    if (r?.actuator !== actuator) return;
    // The planner warns of a failed Effect itself, once until the plugin refits again: one warned
    // here too would repeat every round.
    if (method === 'Effect') this.log.debug({ plugin: actuator.name, method, reason }, 'plugin call failed');
    else this.log.warn({ plugin: actuator.name, method, reason }, 'plugin call failed');
    this.emit({ type: 'call-failed', plugin: r.info, method, reason });
  }

  private async register(req: RegisterRequestMessage): Promise<RegisterResponseMessage> {
    const invalid = (msg: string) => status(grpc.status.INVALID_ARGUMENT, msg);
    if (!NAME.test(req.name))
      throw invalid(`name "${req.name}": must be 1–63 of [a-z0-9_-], starting with a letter or digit`);
    if (!req.endpoint) throw invalid('endpoint: missing (the host or IP the planner dials)');
    if (!Number.isInteger(req.port) || req.port < 1 || req.port > 65535)
      throw invalid(`port ${req.port}: must be 1–65535`);
    if (req.protocolVersion && req.protocolVersion !== PROTOCOL_VERSION)
      throw invalid(`protocol_version "${req.protocolVersion}": this planner speaks "${PROTOCOL_VERSION}"`);
    if (this.reserved.has(req.name))
      throw status(grpc.status.ALREADY_EXISTS, `name "${req.name}" belongs to a built-in actuator`);
    const address = `${req.endpoint.includes(':') ? `[${req.endpoint}]` : req.endpoint}:${req.port}`;

    const existing = this.registrations.get(req.name);
    if (existing && existing.info.address !== address && (await this.reachable(existing.client)))
      throw status(
        grpc.status.ALREADY_EXISTS,
        `plugin "${req.name}" is already registered from ${existing.info.address}, which still answers`,
      );

    const client = new ActuatorPluginClient(address, grpc.credentials.createInsecure());
    if (!(await this.reachable(client))) {
      client.close();
      throw status(
        grpc.status.UNAVAILABLE,
        `cannot reach plugin "${req.name}" at ${address} within ${this.timeouts.connect} ms; serve ActuatorPlugin there before registering`,
      );
    }
    if (existing) this.remove(req.name, { type: 'deregistered' });
    const info: PluginInfo = {
      name: req.name,
      group: req.group || req.name,
      address,
      registeredAt: new Date().toISOString(),
    };
    const actuator = new RemoteActuator(info, client, this, {
      nextState: this.timeouts.nextState,
      perform: this.timeouts.perform,
    });
    this.registrations.set(req.name, { info, actuator, client });
    this.log.info({ plugin: req.name, address }, 'plugin registered');
    this.emit({ type: 'registered', plugin: info });
    return {
      name: req.name,
      nextStateTimeoutMs: this.timeouts.nextState,
      performTimeoutMs: this.timeouts.perform,
    };
  }

  private remove(name: string, how: { type: 'deregistered' } | { type: 'dropped'; reason: string }): void {
    const r = this.registrations.get(name);
    if (!r) return;
    this.registrations.delete(name);
    r.actuator.markGone(how.type === 'dropped' ? how.reason : 'deregistered');
    r.client.close();
    if (how.type === 'dropped') {
      this.log.warn({ plugin: name, address: r.info.address, reason: how.reason }, 'plugin dropped');
      this.emit({ type: 'dropped', plugin: r.info, reason: how.reason });
    } else {
      this.log.info({ plugin: name }, 'plugin deregistered');
      this.emit({ type: 'deregistered', plugin: r.info });
    }
  }

  private reachable(client: grpc.Client): Promise<boolean> {
    return new Promise((resolve) =>
      client.waitForReady(Date.now() + this.timeouts.connect, (err) => resolve(!err)),
    );
  }

  private async probeAll(): Promise<void> {
    await Promise.all(
      [...this.registrations.values()].map(async (r) => {
        if (await this.reachable(r.client)) return;
        // Only drop the registration probed: the plugin may have re-registered meanwhile.
        this.drop(r.actuator, `health probe: not reachable at ${r.info.address}`);
      }),
    );
  }

  private emit(e: PluginEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err }, 'plugin event listener failed');
      }
    }
  }
}

function status(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
