import type { Action, Actuator, Candidate } from './actuator.js';
import { GoalTerms } from './goal-terms.js';
import { IdHeap } from './heap.js';
import { Change, ProposalSink } from './proposals.js';
import { footprint, type Goal, type PlanState } from './state.js';
import { StateTable } from './state-table.js';

export interface AStarOptions {
  /** Most states the search may generate (IDO's max_states): bounds time and memory. */
  maxStates: number;
  /** Most follow-up states taken from each actuator per expansion (IDO's max_candidates). */
  maxCandidates: number;
  /**
   * When the goal cannot be reached, how many of the closest states compete on path cost
   * (IDO's opportunistic_candidates; 0 takes the closest).
   */
  opportunisticCandidates: number;
}

export interface Plan {
  actions: Action[];
  /** The state each action is predicted to lead to, in the same order. */
  steps: PlanState[];
  /** The state the plan is predicted to lead to. */
  state: PlanState;
  /** The goal holds in `state`; false for an opportunistic plan (or an empty one). */
  reachesGoal: boolean;
  cost: number;
  /** States generated, duplicates excluded. */
  states: number;
}

/**
 * Edge cost of an action: its utility, scaled by priority so that a low-priority workload pays
 * up to twice what a priority-1.0 one pays for the same action.
 */
export function edgeCost(utility: number, priority: number): number {
  return Math.max(utility, 1e-6) * (2 - priority);
}

/**
 * A* over the states the actuators predict. Inside the search a state is an integer id in a
 * StateTable: duplicates are found by a hashed packed key (no key string per candidate), the open
 * list is a heap of ids with decrease-key, and the goal's bounds are worked out once. The search
 * stops at `maxStates`. When the current state already meets the goal, the search looks for a
 * cheaper state that still meets it (scaling in); when the goal is out of reach, it returns the
 * path to the closest state it saw.
 *
 * States are treated as immutable values: actuators may share unchanged parts (pods, CPU) between
 * a state and the states they derive from it, and so may the returned plan's state.
 */
export class AStarPlanner {
  constructor(private readonly opts: AStarOptions) {}

  async plan(start: PlanState, goal: Goal, actuators: readonly Actuator[], priority: number): Promise<Plan> {
    const { maxStates, maxCandidates } = this.opts;
    const terms = new GoalTerms(goal);
    const saving = terms.measure(start).unmet === 0;
    const startDistance = saving ? 0 : terms.measure(start).distance;
    const startFootprint = footprint(start);
    const table = new StateTable(maxStates);
    const open = new IdHeap(Math.min(maxStates, 4096));
    const closest = new Closest(Math.max(1, this.opts.opportunisticCandidates));
    const search = new SearchSink(table, open, closest, terms, saving, maxStates, priority);

    table.find(start);
    table.insert(start, 0, startDistance, -1, undefined);
    open.push(0, startDistance, startDistance);

    while (open.size > 0) {
      const id = open.pop();
      table.closed[id] = 1;
      const state = table.states[id]!;
      if (id !== 0 && terms.measure(state).unmet === 0 && (!saving || footprint(state) < startFootprint))
        return result(table, id, true);
      if (table.size >= maxStates) break;
      search.expanding(id);
      for (const actuator of actuators) {
        if (actuator.proposeStates) {
          search.begin(state, actuator.name, maxCandidates);
          actuator.proposeStates(state, goal, maxCandidates, search);
          search.end();
          continue;
        }
        let candidates: Candidate[] | Promise<Candidate[]> = actuator.nextState(state, goal, maxCandidates);
        if (candidates instanceof Promise) candidates = await candidates;
        const n = Math.min(candidates.length, maxCandidates);
        for (let i = 0; i < n; i++) search.offer(candidates[i]!);
      }
    }
    if (saving) return result(table, 0, true);
    // Opportunistic: the cheapest of the closest states, if it is closer than where we are.
    let pick = 0;
    for (const id of closest.ids)
      if (table.h[id]! < startDistance && (pick === 0 || table.g[id]! < table.g[pick]!)) pick = id;
    return result(table, pick, false);
  }
}

/**
 * One expansion's candidates meet the search here, whether an actuator proposes them as changes
 * (the duplicate check runs on a key derived from the expanded state's, and only a kept state is
 * built) or hands them over built (`offer`). Either way: each state is expanded once, an open one
 * takes a cheaper path, a new one is added while there is room under max_states.
 */
class SearchSink extends ProposalSink {
  private id = 0;
  private base = 0;
  /** The pending proposal's state id (-1 when new) and cost. */
  private child = -1;
  private cost = 0;
  private podSet = 0;

  constructor(
    private readonly table: StateTable,
    private readonly open: IdHeap,
    private readonly closest: Closest,
    private readonly terms: GoalTerms,
    private readonly saving: boolean,
    private readonly maxStates: number,
    private readonly priority: number,
  ) {
    super();
  }

  expanding(id: number): void {
    this.id = id;
    this.base = this.table.g[id]!;
  }

  /** A candidate built in full (from `nextState`). */
  offer(c: Candidate): void {
    const { table } = this;
    const g = this.base + edgeCost(c.utility, this.priority);
    const child = table.find(c.state);
    if (!this.wanted(child, g)) return;
    this.add(child, g, c.state, c.action);
  }

  protected judge(): boolean {
    const { table } = this;
    table.derive(this.id);
    const parent = this.parent;
    if (this.change === Change.Replicas) table.setReplicas(this.newReplicas);
    else if (this.change === Change.Cpu) table.setCpu(this.container, this.request, this.cpuLimit);
    else {
      this.podSet = table.replacedPodSet(
        table.podSetOf(this.id),
        parent.pods,
        this.pod,
        this.replacementName,
      );
      table.setPodSet(this.podSet);
    }
    const values = this.objectives;
    const n = this.objectiveNames.length;
    for (let i = 0; i < n; i++) table.setObjective(i, values[i]!);
    const g = this.base + edgeCost(this.utility, this.priority);
    const child = table.findPacked();
    if (!this.wanted(child, g)) return false;
    this.child = child;
    this.cost = g;
    return true;
  }

  protected keep(state: PlanState, action: Action): void {
    if (this.change === Change.Pod) this.table.notePods(state.pods, this.podSet);
    this.add(this.child, this.cost, state, action);
  }

  protected keepCandidate(c: Candidate): void {
    this.offer(c);
  }

  /** Whether a candidate reaching `child` (-1: a new state) at cost `g` is kept. */
  private wanted(child: number, g: number): boolean {
    const { table } = this;
    // Each state is expanded once; an open one takes the cheaper path.
    if (child >= 0) return table.closed[child] !== 1 && table.g[child]! > g;
    return table.size < this.maxStates;
  }

  /** Adds a new state (`child` -1, right after the `find` that missed it) or re-parents an open one. */
  private add(child: number, g: number, state: PlanState, action: Action): void {
    const { table } = this;
    if (child >= 0) {
      table.g[child] = g;
      table.parent[child] = this.id;
      table.actions[child] = action;
      table.states[child] = state;
    } else {
      child = table.insert(state, g, this.saving ? 0 : this.terms.measure(state).distance, this.id, action);
    }
    const h = table.h[child]!;
    this.open.push(child, g + h, h);
    if (!this.saving) this.closest.offer(child, table);
  }
}

/** The few states closest to the goal (ties broken by cost), for opportunistic mode. */
class Closest {
  readonly ids: number[] = [];
  constructor(private readonly keep: number) {}

  offer(id: number, table: StateTable): void {
    const { ids, keep } = this;
    const h = table.h[id]!;
    const g = table.g[id]!;
    const worst = ids[ids.length - 1];
    if (worst !== undefined && ids.length >= keep && worst !== id && !worse(table, worst, h, g)) return;
    // A state already kept has just become cheaper: it moves to its new place.
    const at = ids.indexOf(id);
    if (at >= 0) ids.splice(at, 1);
    let i = ids.length;
    while (i > 0 && worse(table, ids[i - 1]!, h, g)) i--;
    ids.splice(i, 0, id);
    if (ids.length > keep) ids.pop();
  }
}

/** Whether state `other` is further from the goal than (h, g), or as far and dearer. */
function worse(table: StateTable, other: number, h: number, g: number): boolean {
  return table.h[other]! > h || (table.h[other] === h && table.g[other]! > g);
}

function result(table: StateTable, id: number, reachesGoal: boolean): Plan {
  return {
    actions: table.path(id),
    steps: table.pathStates(id),
    state: table.states[id]!,
    reachesGoal,
    cost: table.g[id]!,
    states: table.size,
  };
}
