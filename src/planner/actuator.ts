import type { Goal, PlanState } from './state.js';

/** One step of a plan, as IDO names it (`scale_out`, `rm_pod`, `cpu_scale`…) with its properties. */
export interface Action {
  name: string;
  properties: Record<string, string | number>;
}

/** A follow-up state an actuator predicts, what it costs, and the action that leads there. */
export interface Candidate {
  state: PlanState;
  /** 0–1 for a favourable action; higher values are possible and make the action unlikely. */
  utility: number;
  action: Action;
}

/**
 * An actuator, as in IDO: predicts follow-up states (`nextState`), carries out its part of a
 * plan (`perform`) and re-learns its model from history (`effect`). Remote plugins answer
 * asynchronously, in-process actuators synchronously (which keeps the search fast).
 */
export interface Actuator {
  readonly name: string;
  readonly group: string;
  /** At most `limit` candidates, the smallest steps first (the planner's max_candidates). */
  nextState(state: PlanState, goal: Goal, limit: number): Candidate[] | Promise<Candidate[]>;
  perform(state: PlanState, plan: readonly Action[]): Promise<void>;
  effect(state: PlanState, goal: Goal): Promise<void>;
}
