import * as grpc from '@grpc/grpc-js';
import type { Action, Actuator, Candidate } from '../actuator.js';
import type { Goal, PlanState } from '../state.js';
import {
  actionToWire,
  candidateFromWire,
  goalToWire,
  type NextStateResponseMessage,
  type ProtocolError,
  stateToWire,
} from './wire.js';

/** What a RemoteActuator reports back to the manager that made it. */
export interface PluginSupervisor {
  drop(actuator: RemoteActuator, reason: string): void;
  callFailed(actuator: RemoteActuator, method: string, reason: string): void;
}

/** A call to a plugin that failed; the message names the plugin, its address and the call. */
export class PluginCallError extends Error {
  override name = 'PluginCallError';
}

type UnaryMethod<T> = (
  request: object,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res?: T) => void,
) => void;

/** Codes that mean the plugin is gone or hung, not that it refused one request. */
const GONE = new Set([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.UNIMPLEMENTED]);

/**
 * A registered plugin seen as an `Actuator`. NextState failures never fail a plan: the plugin
 * offers nothing and the failure is reported; Perform and Effect failures are thrown. Once the
 * plugin is gone, every call answers at once (no candidates, or an error saying why).
 */
export class RemoteActuator implements Actuator {
  readonly name: string;
  readonly group: string;
  private gone: string | undefined;

  constructor(
    private readonly info: { name: string; group: string; address: string },
    private readonly client: grpc.Client,
    private readonly supervisor: PluginSupervisor,
    private readonly timeouts: { nextState: number; perform: number },
  ) {
    this.name = info.name;
    this.group = info.group;
  }

  /** Set by the manager when the plugin is dropped or deregistered. */
  markGone(reason: string): void {
    this.gone ??= reason;
  }

  async nextState(state: PlanState, goal: Goal, limit: number): Promise<Candidate[]> {
    if (this.gone) return [];
    let res: NextStateResponseMessage;
    try {
      res = await this.call<NextStateResponseMessage>(
        'NextState',
        { state: stateToWire(state), goal: goalToWire(goal), limit },
        this.timeouts.nextState,
      );
    } catch {
      return []; // reported by call()
    }
    try {
      return res.candidates.slice(0, limit).map(candidateFromWire);
    } catch (err) {
      this.supervisor.callFailed(this, 'NextState', `bad answer: ${(err as ProtocolError).message}`);
      return [];
    }
  }

  async perform(state: PlanState, plan: readonly Action[]): Promise<void> {
    this.ensurePresent('Perform');
    await this.call(
      'Perform',
      { state: stateToWire(state), plan: plan.map(actionToWire) },
      this.timeouts.perform,
    );
  }

  async effect(state: PlanState, goal: Goal): Promise<void> {
    this.ensurePresent('Effect');
    await this.call('Effect', { state: stateToWire(state), goal: goalToWire(goal) }, this.timeouts.perform);
  }

  private ensurePresent(method: string): void {
    if (this.gone)
      throw new PluginCallError(
        `plugin "${this.name}" (${this.info.address}) is no longer registered (${this.gone}); ${method} not sent`,
      );
  }

  /** One unary call with a deadline; failures are reported to the manager and thrown. */
  private call<T>(method: string, request: object, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, UnaryMethod<T>>)[method]!;
      fn.call(
        this.client,
        request,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: T) => {
          if (!err) return resolve(res!);
          const what =
            err.code === grpc.status.DEADLINE_EXCEEDED
              ? `no answer within ${timeoutMs} ms`
              : `${grpc.status[err.code] ?? err.code}: ${err.details || err.message}`;
          const reason = `${method}: ${what}`;
          if (GONE.has(err.code)) this.supervisor.drop(this, reason);
          else this.supervisor.callFailed(this, method, what);
          reject(new PluginCallError(`plugin "${this.name}" (${this.info.address}) ${reason}`));
        },
      );
    });
  }
}
