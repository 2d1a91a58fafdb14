import * as grpc from '@grpc/grpc-js';
import type { Action, Actuator, Candidate } from '../actuator.js';
import type { Goal, PlanState } from '../state.js';
import { plannedGeneration, WorkloadChangedError } from '../workload.js';
import {
  actionToWire,
  candidateFromWire,
  goalToWire,
  type NextStateResponseMessage,
  type ProtocolError,
  stateToWire,
  WORKLOAD_CHANGED,
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
 * offers nothing and the failure is reported; Perform and Effect failures are thrown, a Perform
 * answered ABORTED ("the workload changed, nothing done") as a `WorkloadChangedError`, so that
 * the planner drops the plan as it does for its own actuators. Once the plugin is gone, every
 * call answers at once (no candidates, or an error saying why).
 */
export class RemoteActuator implements Actuator {
  readonly name: string;
  readonly group: string;
  private goneReason: string | undefined;

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
    this.goneReason ??= reason;
  }

  gone(): boolean {
    return this.goneReason !== undefined;
  }

  async nextState(state: PlanState, goal: Goal, limit: number): Promise<Candidate[]> {
    if (this.goneReason) return [];
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
    // The built-in actuators perform first: a change they made to the spec in this plan is the
    // planner's own, so the plugin is told the generation they left, not the one observed.
    const generation = plannedGeneration(state.target);
    const sent = generation === undefined ? state : { ...state, target: { ...state.target, generation } };
    await this.call(
      'Perform',
      { state: stateToWire(sent), plan: plan.map(actionToWire) },
      this.timeouts.perform,
      true,
    );
  }

  async effect(state: PlanState, goal: Goal): Promise<void> {
    this.ensurePresent('Effect');
    await this.call('Effect', { state: stateToWire(state), goal: goalToWire(goal) }, this.timeouts.perform);
  }

  private ensurePresent(method: string): void {
    if (this.goneReason)
      throw new PluginCallError(
        `plugin "${this.name}" (${this.info.address}) is no longer registered (${this.goneReason}); ${method} not sent`,
      );
  }

  /**
   * One unary call with a deadline; failures are reported to the manager and thrown. With
   * `acts`, an answer of WORKLOAD_CHANGED is thrown as a WorkloadChangedError, not reported: the
   * plugin did its job in refusing.
   */
  private call<T>(method: string, request: object, timeoutMs: number, acts = false): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, UnaryMethod<T>>)[method]!;
      fn.call(
        this.client,
        request,
        { deadline: Date.now() + timeoutMs },
        (err: grpc.ServiceError | null, res?: T) => {
          if (!err) return resolve(res!);
          if (acts && err.code === WORKLOAD_CHANGED)
            return reject(
              new WorkloadChangedError(
                `plugin "${this.name}" (${this.info.address}) did not act: ${err.details || err.message}`,
              ),
            );
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
