import type { Action } from '../actuator.js';
import type { LinearFit } from '../models/linear-fit.js';
import type { ContainerCpu } from '../state.js';

/** One planning event, as IDO's knowledge base recorded it, plus what Tutti adds (the plan). */
export interface PlanningEvent {
  /** `<namespace>/<name>` of the intent. */
  intent: string;
  /** ISO time. */
  time: string;
  /** Objective name → observed value. */
  current: Record<string, number>;
  /** Objective name → target value. */
  desired: Record<string, number>;
  replicas: number;
  resources: Record<string, ContainerCpu>;
  pods: string[];
  plan: Action[];
  /** What became of the plan when it was acted on; absent when it was not (overruled, deferred, empty). */
  execution?: PlanExecution;
}

/** A plan acted on: which of its actions took effect, and which failed. */
export interface PlanExecution {
  /** Every action took effect. */
  carriedOut: boolean;
  /** The actions in effect on the workload, also when a later one failed. */
  tookEffect: Action[];
  /** The actions whose actuator failed (the others were not tried). */
  failed: Action[];
  /** As the intent's status.lastPlan.message says it. */
  message: string;
}

/** A model an actuator fitted, kept so that its history can be inspected and reused. */
export interface FittedModel {
  intent: string;
  actuator: string;
  /** The objective the model predicts. */
  objective: string;
  time: string;
  fit: LinearFit;
}

/** Where planning events and fitted models are kept: embedded by default, MongoDB as in IDO. */
export interface TraceStore {
  recordEvent(event: PlanningEvent): Promise<void>;
  /** The intent's most recent events, newest first. */
  recentEvents(intent: string, limit: number): Promise<PlanningEvent[]>;
  recordModel(model: FittedModel): Promise<void>;
  /** The latest model an actuator fitted for an intent's objective. */
  latestModel(intent: string, actuator: string, objective: string): Promise<FittedModel | undefined>;
  close(): Promise<void>;
}
