import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { TargetKind } from '../../apis/ido.intel.com/intent.js';
import type { KpiType } from '../../apis/ido.intel.com/kpi-profile.js';
import type { Action, Candidate } from '../actuator.js';
import type { ContainerCpu, Goal, PlanState, PodState } from '../state.js';

/** The plugin protocol (plugin.proto beside this module), loaded at run time like hourglass's. */
const definition = protoLoader.loadSync(
  ['plugin.proto', 'ido-registration.proto'].map((f) => fileURLToPath(new URL(f, import.meta.url))),
  { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true },
);
const loaded = grpc.loadPackageDefinition(definition) as unknown as {
  tutti: {
    planner: {
      v1: { PluginManager: grpc.ServiceClientConstructor; ActuatorPlugin: grpc.ServiceClientConstructor };
    };
  };
  plugins: { Registration: grpc.ServiceClientConstructor };
};

export const PluginManagerClient = loaded.tutti.planner.v1.PluginManager;
export const ActuatorPluginClient = loaded.tutti.planner.v1.ActuatorPlugin;
/** IDO's registration service, served only to refuse IDO plugins with a reason. */
export const IdoRegistrationClient = loaded.plugins.Registration;
export const PROTOCOL_VERSION = 'v1';
/**
 * The status a plugin's Perform answers with when the workload changed since it was observed and
 * nothing was done (plugin.proto, ActuatorPlugin.Perform); the planner drops the plan for it.
 */
export const WORKLOAD_CHANGED = grpc.status.ABORTED;

// Messages as @grpc/proto-loader presents them (camelCase fields, enums as strings).

export interface RegisterRequestMessage {
  name: string;
  group: string;
  endpoint: string;
  port: number;
  protocolVersion: string;
}
export interface RegisterResponseMessage {
  name: string;
  nextStateTimeoutMs: number;
  performTimeoutMs: number;
}
export interface DeregisterRequestMessage {
  name: string;
}

type WireKpiType = 'KPI_TYPE_UNSPECIFIED' | 'LATENCY' | 'AVAILABILITY' | 'THROUGHPUT' | 'POWER';

export interface StateMessage {
  intent: string;
  /** `generation` 0: not given (a workload's is never 0), decoded as undefined. */
  target: { kind: string; namespace: string; name: string; generation: number } | null;
  replicas: number;
  containers: { name: string; request: number; limit: number }[];
  pods: Record<string, PodState>;
  objectives: Record<string, number>;
}
export interface GoalMessage {
  objectives: Record<string, { value: number; minimize: boolean; tolerance: number; type: WireKpiType }>;
}
export interface ActionMessage {
  name: string;
  properties: Record<string, { number?: number; text?: string; value?: 'number' | 'text' }>;
}
export interface CandidateMessage {
  state: StateMessage | null;
  utility: number;
  action: ActionMessage | null;
}
export interface NextStateRequestMessage {
  state: StateMessage | null;
  goal: GoalMessage | null;
  limit: number;
}
export interface NextStateResponseMessage {
  candidates: CandidateMessage[];
}
export interface PerformRequestMessage {
  state: StateMessage | null;
  plan: ActionMessage[];
}
export interface EffectRequestMessage {
  state: StateMessage | null;
  goal: GoalMessage | null;
}

/** A message from the other side that does not make sense; the text names the field. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

export function stateToWire(s: PlanState): StateMessage {
  return {
    intent: s.intent,
    target: {
      kind: s.target.kind,
      namespace: s.target.namespace,
      name: s.target.name,
      generation: s.target.generation ?? 0,
    },
    replicas: s.replicas,
    containers: Object.entries(s.cpu).map(([name, c]) => ({ name, request: c.request, limit: c.limit })),
    pods: s.pods,
    objectives: s.objectives,
  };
}

export function stateFromWire(m: StateMessage | null | undefined, field = 'state'): PlanState {
  if (!m) throw new ProtocolError(`${field}: missing`);
  if (!m.target) throw new ProtocolError(`${field}.target: missing`);
  const kind = m.target.kind;
  if (kind !== 'Deployment' && kind !== 'ReplicaSet')
    throw new ProtocolError(`${field}.target.kind: must be Deployment or ReplicaSet, got "${kind}"`);
  // Absent from a peer built before the field: proto3 reads it as 0, as does proto-loader's default.
  const generation = m.target.generation ?? 0;
  if (!Number.isSafeInteger(generation) || generation < 0)
    throw new ProtocolError(`${field}.target.generation: must be a whole number ≥ 0, got ${generation}`);
  if (!Number.isInteger(m.replicas) || m.replicas < 0)
    throw new ProtocolError(`${field}.replicas: must be a whole number ≥ 0, got ${m.replicas}`);
  const cpu: Record<string, ContainerCpu> = {};
  for (const c of m.containers) cpu[c.name] = { request: c.request, limit: c.limit };
  const pods: Record<string, PodState> = {};
  for (const [name, p] of Object.entries(m.pods))
    pods[name] = {
      ready: p.ready,
      restarts: p.restarts,
      failed: p.failed,
      ...(p.starting ? { starting: true } : {}),
    };
  const objectives: Record<string, number> = {};
  for (const [name, v] of Object.entries(m.objectives)) {
    if (!Number.isFinite(v)) throw new ProtocolError(`${field}.objectives.${name}: not a finite number`);
    objectives[name] = v;
  }
  return {
    intent: m.intent,
    target: {
      kind: kind as TargetKind,
      namespace: m.target.namespace,
      name: m.target.name,
      // 0 is "not given": no generation, so the change is made unconditionally (see WorkloadRef).
      ...(generation > 0 ? { generation } : {}),
    },
    replicas: m.replicas,
    cpu,
    pods,
    objectives,
  };
}

export function goalToWire(g: Goal): GoalMessage {
  const objectives: GoalMessage['objectives'] = {};
  for (const [name, o] of Object.entries(g))
    objectives[name] = {
      value: o.value,
      minimize: o.minimize,
      tolerance: o.tolerance,
      type: o.type.toUpperCase() as WireKpiType,
    };
  return { objectives };
}

export function goalFromWire(m: GoalMessage | null | undefined): Goal {
  if (!m) throw new ProtocolError('goal: missing');
  const goal: Goal = {};
  for (const [name, o] of Object.entries(m.objectives)) {
    if (o.type === 'KPI_TYPE_UNSPECIFIED')
      throw new ProtocolError(`goal.objectives.${name}.type: unspecified`);
    goal[name] = {
      value: o.value,
      minimize: o.minimize,
      tolerance: o.tolerance,
      type: o.type.toLowerCase() as KpiType,
    };
  }
  return goal;
}

export function actionToWire(a: Action): ActionMessage {
  const properties: ActionMessage['properties'] = {};
  for (const [k, v] of Object.entries(a.properties))
    properties[k] = typeof v === 'number' ? { number: v } : { text: v };
  return { name: a.name, properties };
}

export function actionFromWire(m: ActionMessage | null | undefined, field = 'action'): Action {
  if (!m?.name) throw new ProtocolError(`${field}.name: missing`);
  const properties: Action['properties'] = {};
  for (const [k, v] of Object.entries(m.properties)) {
    if (v.value === 'number') properties[k] = v.number!;
    else if (v.value === 'text') properties[k] = v.text!;
    else throw new ProtocolError(`${field}.properties.${k}: neither number nor text`);
  }
  return { name: m.name, properties };
}

export function candidateToWire(c: Candidate): CandidateMessage {
  return { state: stateToWire(c.state), utility: c.utility, action: actionToWire(c.action) };
}

export function candidateFromWire(m: CandidateMessage, i: number): Candidate {
  const field = `candidates[${i}]`;
  if (!Number.isFinite(m.utility) || m.utility < 0)
    throw new ProtocolError(`${field}.utility: must be a finite number ≥ 0, got ${m.utility}`);
  return {
    state: stateFromWire(m.state, `${field}.state`),
    utility: m.utility,
    action: actionFromWire(m.action, `${field}.action`),
  };
}
