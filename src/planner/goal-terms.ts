import { bound, type Goal, type PlanState } from './state.js';

/** How one state stands against the goal, computed in one pass. */
export interface GoalStanding {
  /** Objectives not met (missing or NaN values count as unmet). */
  unmet: number;
  /** The summed relative violation: `distance()` in state.ts. */
  distance: number;
}

/**
 * The goal with its bounds and scales worked out once per search, so that the heuristic and the
 * goal test, run for every generated state, do not recompute them. Equivalent to `isGoal` and
 * `distance` in state.ts.
 */
export class GoalTerms {
  private readonly names: string[] = [];
  private readonly bounds: number[] = [];
  private readonly minimize: boolean[] = [];
  private readonly scales: number[] = [];
  /** Reused result: the search reads it before the next call. */
  private readonly standing: GoalStanding = { unmet: 0, distance: 0 };

  constructor(goal: Goal) {
    for (const name in goal) {
      const g = goal[name]!;
      const b = bound(g);
      this.names.push(name);
      this.bounds.push(b);
      this.minimize.push(g.minimize);
      this.scales.push(Math.max(Math.abs(b), 1e-9));
    }
  }

  /** The standing of `state`; the returned object is overwritten by the next call. */
  measure(state: PlanState): GoalStanding {
    const { names, bounds, minimize, scales } = this;
    const objectives = state.objectives;
    let unmet = 0;
    let d = 0;
    for (let i = 0; i < names.length; i++) {
      const current = objectives[names[i]!];
      if (current === undefined || Number.isNaN(current)) {
        unmet++;
        d += 1;
        continue;
      }
      const miss = minimize[i] ? current - bounds[i]! : bounds[i]! - current;
      if (miss > 0) {
        unmet++;
        d += miss / scales[i]!;
      }
    }
    this.standing.unmet = unmet;
    this.standing.distance = d;
    return this.standing;
  }
}
