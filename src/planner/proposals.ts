import type { Action, Candidate, CandidateSink } from './actuator.js';
import type { ContainerCpu, Goal, PlanState, PodState } from './state.js';

/** What the pending proposal changes. */
export const Change = { None: 0, Replicas: 1, Cpu: 2, Pod: 3 } as const;

/**
 * The bookkeeping every CandidateSink shares: the objective values, the proposal counted against
 * the limit and remembered until `take`, and building the proposed state. Subclasses decide
 * whether a proposal is kept (`judge`) and what becomes of it (`keep`, `keepCandidate`).
 */
export abstract class ProposalSink implements CandidateSink {
  objectives = new Float64Array(8);
  readonly objectiveNames: string[] = [];
  protected parent!: PlanState;
  /** The objectives `objectiveNames` lists. */
  private namesOf: PlanState['objectives'] | undefined;
  protected actuator = '';
  private limit = 0;
  private count = 0;
  private pending = false;

  /** The pending proposal (plain fields, so a proposal allocates nothing). */
  protected change: number = Change.None;
  protected utility = 0;
  protected newReplicas = 0;
  protected container = '';
  protected request = 0;
  protected cpuLimit = 0;
  protected pod = '';
  protected replacementName = '';
  protected replacement: PodState | undefined;

  /** Starts one actuator's proposals from `parent`: its objective values, a fresh count. */
  begin(parent: PlanState, actuator: string, limit: number): void {
    this.parent = parent;
    this.actuator = actuator;
    this.limit = limit;
    this.count = 0;
    this.pending = false;
    const names = this.objectiveNames;
    const objectives = parent.objectives;
    // Each actuator of one expansion starts from the same state: its names are listed once.
    if (objectives !== this.namesOf) {
      names.length = 0;
      for (const name in objectives) names.push(name);
      this.namesOf = objectives;
    }
    if (names.length > this.objectives.length) this.objectives = new Float64Array(names.length * 2);
    for (let i = 0; i < names.length; i++) this.objectives[i] = objectives[names[i]!]!;
  }

  /** Ends the actuator's proposals; a kept proposal without its action is the actuator's bug. */
  end(): void {
    if (this.pending) this.untaken();
  }

  objectiveIndex(name: string): number {
    return this.objectiveNames.indexOf(name);
  }

  replicas(replicas: number, utility: number): boolean {
    if (!this.counted()) return false;
    this.change = Change.Replicas;
    this.newReplicas = replicas;
    this.utility = utility;
    return this.judged();
  }

  cpu(container: string, request: number, limit: number, utility: number): boolean {
    if (!this.counted()) return false;
    if (!(container in this.parent.cpu))
      throw new Error(
        `actuator ${this.actuator} proposed CPU for container ${container}, which the state does not have`,
      );
    this.change = Change.Cpu;
    this.container = container;
    this.request = request;
    this.cpuLimit = limit;
    this.utility = utility;
    return this.judged();
  }

  replacePod(pod: string, replacementName: string, replacement: PodState, utility: number): boolean {
    if (!this.counted()) return false;
    if (!(pod in this.parent.pods))
      throw new Error(
        `actuator ${this.actuator} proposed replacing pod ${pod}, which the state does not have`,
      );
    this.change = Change.Pod;
    this.pod = pod;
    this.replacementName = replacementName;
    this.replacement = replacement;
    this.utility = utility;
    return this.judged();
  }

  take(action: Action): void {
    if (!this.pending)
      throw new Error(`actuator ${this.actuator} took an action for a proposal the search did not keep`);
    this.pending = false;
    this.keep(this.build(), action, this.utility);
  }

  candidate(candidate: Candidate): void {
    if (!this.counted()) return;
    this.keepCandidate(candidate);
  }

  /** Whether the search keeps the pending proposal. */
  protected abstract judge(): boolean;
  /** Keeps the state built from the pending proposal. */
  protected abstract keep(state: PlanState, action: Action, utility: number): void;
  /** Keeps a candidate built in full (or drops it, as the search decides). */
  protected abstract keepCandidate(candidate: Candidate): void;

  private judged(): boolean {
    this.pending = this.judge();
    return this.pending;
  }

  /** Counts one more proposal; false once the limit is reached. */
  private counted(): boolean {
    if (this.pending) this.untaken();
    if (this.count >= this.limit) return false;
    this.count++;
    return true;
  }

  private untaken(): never {
    throw new Error(`actuator ${this.actuator} did not take the action of a proposal the search kept`);
  }

  /**
   * The proposed state, built as `deriveState` builds one: unchanged parts shared with the parent,
   * objectives (in the parent's order) from the values the actuator wrote.
   */
  private build(): PlanState {
    const parent = this.parent;
    const names = this.objectiveNames;
    const values = this.objectives;
    const objectives: Record<string, number> = {};
    for (let i = 0; i < names.length; i++) objectives[names[i]!] = values[i]!;
    let { replicas, cpu, pods } = parent;
    if (this.change === Change.Replicas) replicas = this.newReplicas;
    else if (this.change === Change.Cpu) {
      const resized: Record<string, ContainerCpu> = {};
      for (const name in cpu)
        resized[name] =
          name === this.container ? { request: this.request, limit: this.cpuLimit } : cpu[name]!;
      cpu = resized;
    } else if (this.change === Change.Pod)
      pods = replacedPods(pods, this.pod, this.replacementName, this.replacement!);
    return { intent: parent.intent, target: parent.target, replicas, cpu, pods, objectives };
  }
}

/** `pods` with `pod` replaced, in its place, by `replacement` (rebuilt: deleting slows later reads). */
export function replacedPods(
  pods: PlanState['pods'],
  pod: string,
  replacementName: string,
  replacement: PodState,
): Record<string, PodState> {
  const out: Record<string, PodState> = {};
  for (const name in pods)
    if (name === pod) out[replacementName] = replacement;
    else out[name] = pods[name]!;
  return out;
}

/** Keeps every proposal: what `nextState` returns for an actuator that proposes. */
class CollectingSink extends ProposalSink {
  readonly out: Candidate[] = [];
  protected judge(): boolean {
    return true;
  }
  protected keep(state: PlanState, action: Action, utility: number): void {
    this.out.push({ state, utility, action });
  }
  protected keepCandidate(candidate: Candidate): void {
    this.out.push(candidate);
  }
}

/** An actuator that proposes its candidates as changes (see CandidateSink). */
export interface Proposer {
  readonly name: string;
  proposeStates(state: PlanState, goal: Goal, limit: number, sink: CandidateSink): void;
}

/**
 * Every candidate `proposeStates` describes, built in full: an actuator's `nextState`, so the
 * two cannot disagree.
 */
export function proposedCandidates(
  actuator: Proposer,
  state: PlanState,
  goal: Goal,
  limit: number,
): Candidate[] {
  const sink = new CollectingSink();
  sink.begin(state, actuator.name, limit);
  actuator.proposeStates(state, goal, limit, sink);
  sink.end();
  return sink.out;
}
