import type { Goal, PlanState, PodState } from './state.js';

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
  /**
   * Optional, in-process only: the same candidates as `nextState`, in the same order, told to
   * `sink` as changes. The search prefers it when present; actuators without it (gRPC plugins)
   * are asked `nextState` as before.
   */
  proposeStates?(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void;
  /**
   * Carries out the actions of `plan` named after this actuator. One that acts an action at a
   * time may call `done` with each as it takes effect, so that a failure part-way reports those
   * as carried out; without it, its actions count as all carried out or none.
   */
  perform(state: PlanState, plan: readonly Action[], done?: (action: Action) => void): Promise<void>;
  effect(state: PlanState, goal: Goal): Promise<void>;
  /**
   * Whether the actuator is gone for good (a plugin unregistered or found unreachable): it has
   * nothing left to act with or learn, and is asked nothing more.
   */
  gone?(): boolean;
}

/**
 * Where an actuator's `proposeStates` describes its candidates as changes to the state it was
 * given, so that the search can drop a duplicate before any state object, objectives or action
 * is built. A proposal returns true when the search keeps the state (a new one, or a cheaper path
 * to an open one); the actuator then calls `take` with the action, and only then is the state
 * built. The sink counts proposals against `limit`: past it, every proposal returns false.
 */
export interface CandidateSink {
  /**
   * The candidate's objective values, in `objectiveNames` order (the given state's own order).
   * They hold the given state's values when `proposeStates` is called; before each proposal the
   * actuator writes the values it predicts (the others keep what was last written).
   */
  readonly objectives: Float64Array;
  readonly objectiveNames: readonly string[];
  /** The index of an objective in `objectives`; -1 when the state has no such objective. */
  objectiveIndex(name: string): number;
  /** The state with `replicas` replicas, CPU and pods unchanged. */
  replicas(replicas: number, utility: number): boolean;
  /** The state with one container's CPU request and limit (millicores) changed. */
  cpu(container: string, request: number, limit: number, utility: number): boolean;
  /** The state with pod `pod` replaced, in its place, by `replacement` named `replacementName`. */
  replacePod(pod: string, replacementName: string, replacement: PodState, utility: number): boolean;
  /** The action leading to the state just proposed, which the search keeps. */
  take(action: Action): void;
  /** A candidate built in full, for a change the proposals above cannot describe. */
  candidate(candidate: Candidate): void;
}
