import {
  CONDITION_DEGRADED,
  CONDITION_PLANNING,
  type Intent,
  Intents,
  type LastPlan,
} from '../apis/ido.intel.com/intent.js';
import type { KubeClient } from '../runtime/client/client.js';
import { NotFoundError } from '../runtime/client/errors.js';
import { findCondition } from '../runtime/conditions.js';
import type { Logger } from '../runtime/log.js';
import { updateStatus } from '../runtime/objects.js';
import type { Action, Actuator } from './actuator.js';
import { AStarPlanner, type Plan } from './astar.js';
import { AutoscalerFinder, holdingReplicas, REASON_MANAGED_BY_HPA } from './autoscaler.js';
import type { PlannerConfig } from './config.js';
import { type IntentPlan, resolveConflicts } from './conflicts.js';
import type { KpiObserver, Observation } from './observer.js';
import { type Goal, isGoal, type PlanState } from './state.js';
import { type IntentOutcome, nextIntentStatus } from './status.js';
import type { PlanExecution, TraceStore } from './trace/store.js';
import { WorkloadChangedError } from './workload.js';

export interface IntentPlannerOptions {
  client: KubeClient;
  config: PlannerConfig;
  observer: KpiObserver;
  /**
   * In-process actuators and remote plugins alike (the planner only uses the Actuator
   * interface); asked again each round, since plugins come and go.
   */
  actuators: () => readonly Actuator[];
  traces: TraceStore;
  log: Logger;
}

/** A carried-out plan on one workload, while it settles. */
interface Settling {
  time: number;
  /**
   * The generations of the intents and of the KPIProfiles measuring them when it was made: a
   * spec change to either (an objective, or how it is measured) ends the wait.
   */
  generations: string;
  /**
   * A plan that stopped part-way: what took effect settles, and its intent says so; one that
   * failed (not one dropped because the workload changed) stays Degraded meanwhile.
   */
  partly?: { intent: string; message: string; degraded: boolean };
  /** The intents whose plan (or part of it) took effect: the ones whose status says Settling. */
  intents: string[];
}

/** A plan dropped because its workload changed underneath it is made again this soon. */
const REPLAN_AFTER_CHANGE_MS = 1000;

/**
 * Consecutive failed rounds on one workload are retried after controller_timeout, then twice,
 * four times… as long, up to this (or controller_timeout, if longer): a plan the cluster keeps
 * refusing is not sent again every round.
 */
const MAX_FAILURE_BACKOFF_MS = 10 * 60_000;

/** How the message of a plan that failed after part of it took effect begins. */
const PARTLY_CARRIED_OUT = 'partly carried out: ';

const key = (i: Intent) => `${i.metadata?.namespace}/${i.metadata?.name}`;
const generations = (intents: readonly Intent[]) =>
  intents.map((i) => `${key(i)}@${i.metadata?.generation ?? 0}`).join(',');
const priorityOf = (i: Intent) => i.spec.priority ?? 0.01;

function describeActions(actions: readonly Action[]): string {
  return actions
    .map(
      (a) =>
        `${a.name}(${Object.entries(a.properties)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')})`,
    )
    .join(', ');
}

/**
 * One planning round per workload: observe every active intent on it, plan each with A*,
 * decide between conflicting plans by priority, carry out what won, trace everything and write
 * each intent's status. A carried-out plan is cached for plan_cache_ttl (and while the workload
 * rolls out, up to plan_cache_timeout more) so that the workload is not replanned before the
 * last plan has taken effect.
 */
export class IntentPlanner {
  private readonly astar: AStarPlanner;
  private readonly settling = new Map<string, Settling>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** Rounds in a row whose plan failed, per workload, and the specs they were made for. */
  private readonly failures = new Map<string, { count: number; specs: string }>();
  private readonly autoscalers: AutoscalerFinder;
  /** Workload and actuator pairs whose last refit failed, so that it is warned of once. */
  private readonly refitFailing = new Set<string>();

  constructor(private readonly opts: IntentPlannerOptions) {
    this.autoscalers = new AutoscalerFinder(opts.client, opts.log);
    const a = opts.config.planner.astar;
    this.astar = new AStarPlanner({
      maxStates: a.max_states,
      maxCandidates: a.max_candidates,
      opportunisticCandidates: a.opportunistic_candidates,
    });
  }

  /** Runs a round for the intents on one workload (one round per workload at a time). */
  round(target: string, intents: readonly Intent[], signal?: AbortSignal): Promise<number> {
    const prev = this.locks.get(target) ?? Promise.resolve();
    const next = prev.then(
      () => this.roundNow(target, intents, signal),
      () => this.roundNow(target, intents, signal),
    );
    this.locks.set(target, next);
    // The caller gets the round's error; the lock only needs to know that it ended.
    next.then(
      () => this.unlock(target, next),
      () => this.unlock(target, next),
    );
    return next;
  }

  private unlock(target: string, round: Promise<unknown>): void {
    if (this.locks.get(target) === round) this.locks.delete(target);
  }

  /** Writes the status of an intent that is not planned (inactive, or an invalid target). */
  async idle(intent: Intent, reason: string, message: string, degraded?: boolean): Promise<void> {
    await this.writeStatus(intent, {
      values: {},
      goal: {},
      planning: { status: 'False', reason, message },
      // Nothing was observed: Degraded=False says why rather than "Observed".
      ...(degraded ? { degraded: { reason, message } } : { notDegraded: reason }),
    });
  }

  /** Returns how long until the workload's next round (ms). */
  private async roundNow(target: string, intents: readonly Intent[], signal?: AbortSignal): Promise<number> {
    const { config, log } = this.opts;
    const period = config.controller.controller_timeout * 1000;
    const observations = await Promise.all(intents.map((i) => this.opts.observer.observe(i, signal)));
    const now = Date.now();

    const profiles = intents.map((i) => this.opts.observer.profileGenerations(i));
    const specs = `${generations(intents)};${profiles.join(',')}`;
    const settling = this.settling.get(target) ?? settlingFromStatus(intents, profiles, specs);
    const rolledOut = observations.every((o) => !o.ok || o.rolledOut);
    if (settling && settling.generations === specs) {
      const age = now - settling.time;
      const ttl = config.controller.plan_cache_ttl;
      const wait =
        age < ttl ? ttl - age : !rolledOut && age < ttl + config.controller.plan_cache_timeout ? 1000 : 0;
      if (wait > 0) {
        // Only the values are new: each intent keeps what the round that planned said of it (a
        // conflict, a deferral, a failure), and those whose plan took effect say it settles.
        await Promise.all(
          intents.map((intent, i) => {
            const partly = settling.partly?.intent === key(intent);
            const plan = partly ? 'the part of the last plan that took effect' : 'the last plan';
            const settles = settling.intents.includes(key(intent));
            return this.writeStatus(intent, {
              ...(partly && settling.partly!.degraded
                ? { degraded: { reason: 'ActuationFailed', message: settling.partly!.message } }
                : {}),
              ...observed(observations[i]!),
              planning: {
                status: 'True',
                reason: 'Settling',
                message: rolledOut
                  ? `waiting for ${plan} to take effect`
                  : `waiting for the workload to roll out ${plan}`,
              },
              keep: settles ? { conflict: true } : { conflict: true, planning: true, degraded: true },
            });
          }),
        );
        return Math.min(wait, period);
      }
    }
    this.settling.delete(target);

    // A stopping planner does not start acting on what it observed.
    signal?.throwIfAborted();
    const actuators = this.opts.actuators();
    // An HPA that sets the workload's replicas keeps them: planning them too would fight it.
    const ref = observations.find((o) => o.ok && !o.failures.length);
    const hpa = ref?.ok ? await this.autoscalers.managing(ref.target) : undefined;
    const planWith = hpa ? holdingReplicas(actuators) : actuators;
    const hpaNote = hpa ? `; replicas are left to HorizontalPodAutoscaler ${hpa}` : '';
    // Plan every intent that could be observed in full; the others are not acted on blindly.
    const plans = new Map<string, { plan: Plan; state: PlanState; goal: Goal; saving: boolean }>();
    for (const [i, intent] of intents.entries()) {
      const o = observations[i]!;
      if (!o.ok || o.failures.length) continue;
      const plan = await this.astar.plan(o.state, o.goal, planWith, priorityOf(intent));
      plans.set(key(intent), { plan, state: o.state, goal: o.goal, saving: isGoal(o.state, o.goal) });
    }

    // A plan that only saves resources waits while another intent on the workload needs them,
    // or may: one that could not be observed (an objective that can never be met aside).
    const fixing = [...plans.values()].some((p) => !p.saving);
    const holding = [...plans.values()].some((p) => p.saving && p.plan.actions.length === 0);
    const blind = intents
      .filter((intent, i) => {
        const o = observations[i]!;
        return o.ok && !plans.has(key(intent)) && o.failures.some((f) => f.reason !== 'InvalidObjective');
      })
      .map(key);
    const proposals: IntentPlan[] = [];
    for (const intent of intents) {
      const p = plans.get(key(intent));
      if (!p || p.plan.actions.length === 0 || (p.saving && (fixing || holding || blind.length))) continue;
      proposals.push({
        intent: key(intent),
        target,
        priority: priorityOf(intent),
        created: intent.metadata?.creationTimestamp ?? '',
        actions: p.plan.actions,
      });
    }
    const verdict = resolveConflicts(proposals);

    const outcomes = new Map<string, IntentOutcome>();
    // What became of each plan that was acted on, for its trace.
    const executions = new Map<string, PlanExecution>();
    let performed = false;
    let partly: Settling['partly'];
    // Intents whose plan, or part of it, took effect.
    const tookEffectFor: string[] = [];
    // Intents whose plan failed with nothing taking effect: their status says when it is retried.
    const failedOutright: string[] = [];
    let changed = false;
    for (const [i, intent] of intents.entries()) {
      const k = key(intent);
      const o = observations[i]!;
      const base = observed(o);
      const p = plans.get(k);
      if (!p) {
        const invalid = o.ok ? o.failures.filter((f) => f.reason === 'InvalidObjective') : [];
        outcomes.set(k, {
          ...base,
          planning: invalid.length
            ? {
                status: 'False',
                reason: 'InvalidObjective',
                message: `not planned: ${invalid.map((f) => f.message).join('; ')}`,
              }
            : {
                status: 'False',
                reason: 'NotObserved',
                message: 'not planned: the intent could not be observed in full',
              },
        });
        continue;
      }
      const actions = p.plan.actions;
      const time = new Date(now).toISOString();
      const rivals = verdict.conflicts.get(k);
      const conflict = rivals?.length
        ? {
            with: rivals,
            message: `plan conflicts with ${rivals
              .map((r) => `${r} (priority ${priorityOf(intents.find((x) => key(x) === r)!)})`)
              .join(
                ', ',
              )}; ${verdict.winners.has(k) ? 'this plan has priority' : 'the higher priority plan runs'}`,
          }
        : undefined;
      if (actions.length === 0) {
        outcomes.set(k, {
          ...base,
          planning: p.saving
            ? {
                status: 'False',
                reason: 'GoalReached',
                message: `every objective is met; no cheaper state keeps them met${hpaNote}`,
              }
            : hpa
              ? {
                  status: 'False',
                  reason: REASON_MANAGED_BY_HPA,
                  message: `HorizontalPodAutoscaler ${hpa} sets the replicas: scaling and pod removal are not planned, and no other action is predicted to bring the objectives closer`,
                }
              : {
                  status: 'False',
                  reason: 'NoPlan',
                  message: 'no action is predicted to bring the objectives closer',
                },
        });
        continue;
      }
      if (!verdict.winners.has(k) || !proposals.some((x) => x.intent === k)) {
        const why = conflict
          ? `not carried out: ${conflict.message}`
          : blind.length && !fixing && !holding
            ? `not carried out: ${blind.join(', ')} could not be observed, and may need the workload's current resources`
            : 'not carried out: another intent on the workload needs its current resources';
        outcomes.set(k, {
          ...base,
          ...(conflict ? { conflict } : {}),
          planning: { status: 'False', reason: conflict ? 'Overruled' : 'Deferred', message: why },
          lastPlan: { actions: toStatus(actions), time, carriedOut: false, message: why },
        });
        continue;
      }
      let lastPlan: LastPlan;
      let degraded: IntentOutcome['degraded'];
      // Each actuator carries out the actions of its name. What took effect before one failed has
      // changed the workload, and the status must say so: an actuator acting one action at a time
      // (rm_pod) tells of each as it is done; of the others' actions, all took effect or none.
      const done = new Set<Action>();
      const toCarryOut = actionsToCarryOut(p.state, actions, p.plan.steps);
      let acting: Actuator | undefined;
      try {
        for (const actuator of actuators) {
          // Only the actuators with actions in the plan are asked to carry it out: one with none
          // has nothing to do, and a plugin dropped since the search (gone, or hung past its
          // deadline) would fail a plan it had no part in.
          if (!toCarryOut.some((a) => a.name === actuator.name)) continue;
          acting = actuator;
          await actuator.perform(p.state, toCarryOut, (a) => done.add(a));
          for (const a of actions) if (a.name === actuator.name) done.add(a);
        }
        performed = true;
        tookEffectFor.push(k);
        const message = p.plan.reachesGoal
          ? 'predicted to meet every objective'
          : 'opportunistic: the closest reachable state';
        lastPlan = { actions: toStatus(actions), time, carriedOut: true, message };
        executions.set(k, { carriedOut: true, tookEffect: [...actions], failed: [], message });
        log.info({ intent: k, target, actions: describeActions(actions) }, 'plan carried out');
      } catch (err) {
        const failedName = acting?.name;
        const tookEffect = actions.filter((a) => done.has(a));
        const failed = actions.filter((a) => a.name === failedName && !done.has(a));
        const notTried = actions.filter((a) => !done.has(a) && a.name !== failedName);
        // What did take effect settles like any carried-out plan: replanned at once, the
        // workload would be judged before that change shows in its KPIs.
        if (tookEffect.length) {
          performed = true;
          tookEffectFor.push(k);
        }
        const failedText = failed.length ? describeActions(failed) : `actuator ${failedName}`;
        const partlyText = tookEffect.length
          ? `${PARTLY_CARRIED_OUT}${describeActions(tookEffect)} took effect; ${failedText} failed${
              notTried.length ? `, so ${describeActions(notTried)} was not tried` : ''
            }: `
          : '';
        if (err instanceof WorkloadChangedError) {
          // Not a fault: the plan was made for a spec that is gone; the next round plans afresh,
          // once what did take effect has settled.
          const message = partlyText
            ? `${partlyText}${err.message}; the workload is planned again once that has taken effect`
            : `not carried out: ${err.message}; it is planned again from what is there now`;
          outcomes.set(k, {
            ...base,
            ...(conflict ? { conflict } : {}),
            planning: { status: 'False', reason: 'WorkloadChanged', message },
            lastPlan: { actions: toStatus(actions), time, carriedOut: false, message },
          });
          executions.set(k, { carriedOut: false, tookEffect, failed, message });
          if (tookEffect.length) partly = { intent: k, message, degraded: false };
          changed = true;
          log.info(
            { intent: k, target, err: err.message, tookEffect: describeActions(tookEffect) },
            'plan dropped: the workload changed',
          );
          continue;
        }
        const message = `${partlyText || 'carrying out the plan failed: '}${(err as Error).message}`;
        degraded = { reason: 'ActuationFailed', message };
        lastPlan = { actions: toStatus(actions), time, carriedOut: false, message };
        executions.set(k, { carriedOut: false, tookEffect, failed, message });
        if (tookEffect.length) partly = { intent: k, message, degraded: true };
        else failedOutright.push(k);
        log.warn({ intent: k, target, err, tookEffect: describeActions(tookEffect) }, 'plan failed');
      }
      outcomes.set(k, {
        ...base,
        ...(conflict ? { conflict } : {}),
        ...(degraded ? { degraded } : {}),
        // Planning=True claims the plan is in effect or settling; a failed one is neither.
        planning: degraded
          ? { status: 'False', reason: 'ActuationFailed', message: degraded.message }
          : {
              status: 'True',
              reason: p.plan.reachesGoal ? 'PlanCarriedOut' : 'Opportunistic',
              message: `${describeActions(actions)}${hpaNote}`,
            },
        lastPlan,
      });
    }
    if (performed)
      this.settling.set(target, {
        time: now,
        generations: specs,
        ...(partly ? { partly } : {}),
        intents: tookEffectFor,
      });

    // Trace first, then let the actuators learn from the history that now includes this round.
    // A trace store that fails (full, unreachable) costs the history, not the status: what was
    // done to the workload is reported all the same.
    for (const intent of intents) {
      const p = plans.get(key(intent));
      if (!p) continue;
      await this.opts.traces
        .recordEvent({
          intent: key(intent),
          time: new Date(now).toISOString(),
          current: { ...p.state.objectives },
          desired: Object.fromEntries(Object.entries(p.goal).map(([n, g]) => [n, g.value])),
          replicas: p.state.replicas,
          resources: structuredClone(p.state.cpu),
          pods: Object.keys(p.state.pods),
          plan: [...p.plan.actions],
          ...(executions.has(key(intent)) ? { execution: executions.get(key(intent))! } : {}),
        })
        .catch((err: unknown) => {
          log.warn({ intent: key(intent), err }, 'recording the planning event failed');
        });
      for (const actuator of actuators) {
        // A plugin gone since the round began (dropped, deregistered) has no model to refit.
        if (actuator.gone?.()) continue;
        const refit = `${target}\0${actuator.name}`;
        await actuator.effect(p.state, p.goal).then(
          () => {
            if (this.refitFailing.delete(refit))
              log.info({ intent: key(intent), actuator: actuator.name }, 'refitting the model works again');
          },
          (err: unknown) => {
            // A model that cannot be refitted fails the same way every round: warned once, until
            // a refit succeeds again.
            const again = this.refitFailing.has(refit);
            this.refitFailing.add(refit);
            log[again ? 'debug' : 'warn'](
              { intent: key(intent), actuator: actuator.name, err },
              'refitting the model failed',
            );
          },
        );
      }
    }
    let backoff = 0;
    if (failedOutright.length || partly?.degraded) {
      const prev = this.failures.get(target);
      const count = prev?.specs === specs ? prev.count + 1 : 1;
      this.failures.set(target, { count, specs });
      backoff = Math.min(period * 2 ** (count - 1), Math.max(period, MAX_FAILURE_BACKOFF_MS));
      for (const k of failedOutright) {
        const planning = outcomes.get(k)!.planning;
        planning.message = `${planning.message}; tried again in ${backoff / 1000} s${
          count > 1 ? ` (failed ${count} rounds in a row)` : ''
        }`;
      }
    } else if (performed) this.failures.delete(target);
    for (const [i, intent] of intents.entries()) {
      const outcome = outcomes.get(key(intent))!;
      // A plan made this round records what measured it, for a planner that takes over later.
      if (outcome.lastPlan) outcome.lastPlan = { ...outcome.lastPlan, kpiProfiles: profiles[i]! };
      await this.writeStatus(intent, outcome);
    }
    if (changed) return Math.min(REPLAN_AFTER_CHANGE_MS, period);
    return Math.max(
      performed ? Math.min(config.controller.plan_cache_ttl || period, period) : period,
      backoff,
    );
  }

  private async writeStatus(intent: Intent, outcome: IntentOutcome): Promise<void> {
    try {
      await updateStatus(
        this.opts.client,
        Intents,
        intent.metadata!.name!,
        intent.metadata?.namespace,
        (cur) => {
          const before = JSON.stringify(cur.status ?? {});
          cur.status = nextIntentStatus(cur, outcome);
          return JSON.stringify(cur.status) !== before;
        },
      );
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
}

/** Planning reasons that say the intent's last plan was carried out and may still be settling. */
const IN_EFFECT = new Set(['PlanCarriedOut', 'Opportunistic', 'Settling']);
/** Those that say what took effect of a plan that stopped part-way may still be settling. */
const PARTLY_IN_EFFECT = new Set(['ActuationFailed', 'WorkloadChanged', 'Settling']);

/**
 * A plan carried out by an earlier planner (before a restart, or by the last leader) settles as
 * one of this planner's would: its status says when it was made and that the spec is unchanged.
 * So does one that stopped after part of it took effect (ActuationFailed, WorkloadChanged, or
 * Settling since), its intent staying Degraded meanwhile if it failed: replanned at once, the
 * workload would be judged on KPIs from before that part shows.
 */
function settlingFromStatus(
  intents: readonly Intent[],
  profiles: readonly string[],
  specs: string,
): Settling | undefined {
  let time = Number.NEGATIVE_INFINITY;
  let partlyDone: Settling['partly'];
  const settles: string[] = [];
  for (const [n, i] of intents.entries()) {
    const plan = i.status?.lastPlan;
    const planning = i.status?.conditions?.find((c) => c.type === CONDITION_PLANNING);
    if (!plan || !planning || planning.observedGeneration !== i.metadata?.generation) continue;
    // A KPIProfile edited since the plan ends the wait, as it does for a planner that saw the
    // edit. A status from before the plans recorded their profiles is taken as unchanged.
    if (plan.kpiProfiles !== undefined && plan.kpiProfiles !== profiles[n]) return undefined;
    const partly = !plan.carriedOut && (plan.message ?? '').startsWith(PARTLY_CARRIED_OUT);
    if (plan.carriedOut ? !IN_EFFECT.has(planning.reason) : !partly) continue;
    if (partly && !PARTLY_IN_EFFECT.has(planning.reason)) continue;
    const t = Date.parse(plan.time);
    if (partly) {
      const degraded = findCondition(i.status?.conditions, CONDITION_DEGRADED);
      partlyDone = {
        intent: key(i),
        message: plan.message!,
        degraded: degraded?.status === 'True' && degraded.reason === 'ActuationFailed',
      };
    }
    settles.push(key(i));
    if (t > time) time = t;
  }
  return Number.isFinite(time)
    ? { time, generations: specs, ...(partlyDone ? { partly: partlyDone } : {}), intents: settles }
    : undefined;
}

/**
 * The actions of a plan to carry out: of those that set the same thing (the replicas, one
 * container's CPU) only the last, as the plan predicts its state from the last. Each sets a value
 * outright, and the actuators act in their configured order (the built-in ones, then plugins),
 * not the plan's: an earlier one carried out by an actuator acting later would undo a later one.
 * An action that replaces pods, or whose change the states do not show, is always kept.
 */
export function actionsToCarryOut(
  start: PlanState,
  actions: readonly Action[],
  steps: readonly PlanState[],
): Action[] {
  const sets = actions.map((_, i) => {
    const before = i === 0 ? start : steps[i - 1]!;
    const after = steps[i]!;
    const out: string[] = [];
    if (after.replicas !== before.replicas) out.push('replicas');
    for (const c in after.cpu) {
      const was = before.cpu[c];
      const now = after.cpu[c]!;
      if (!was || was.request !== now.request || was.limit !== now.limit) out.push(`cpu ${c}`);
    }
    return out;
  });
  return actions.filter(
    (_, i) =>
      sets[i]!.length === 0 ||
      !sets[i]!.every((what) => sets.slice(i + 1).some((later) => later.includes(what))),
  );
}

function toStatus(actions: readonly Action[]): LastPlan['actions'] {
  return actions.map((a) => ({ name: a.name, properties: { ...a.properties } }));
}

/** The part of an outcome that follows from observing alone. */
function observed(o: Observation): Pick<IntentOutcome, 'values' | 'goal' | 'degraded'> {
  if (!o.ok) return { values: {}, goal: {}, degraded: { reason: o.reason, message: o.message } };
  return {
    values: { ...o.state.objectives },
    goal: o.goal,
    ...(o.failures.length
      ? {
          degraded: {
            reason: o.failures.every((f) => f.reason === 'QueryFailed')
              ? 'ObservationFailed'
              : o.failures[0]!.reason,
            message: o.failures.map((f) => f.message).join('; '),
          },
        }
      : {}),
  };
}
