import type { Action } from './actuator.js';
import type { PlanState } from './state.js';

/** Stands for a NaN objective in a packed key: Math.round never yields a non-integer. */
const NAN_VALUE = -0.5;

/**
 * The states one search has generated, each interned under a small integer id with its search
 * data in flat typed arrays (cost so far, heuristic, parent, closed flag) instead of an object per
 * node. Duplicates are found through a packed numeric key — replicas, the pod set, CPU per
 * container and the objective values rounded as `stateKey` rounds them — hashed into an
 * open-addressing table and compared number by number on a hash match, so no key string is built
 * or hashed per candidate.
 *
 * Names (containers, pods, objectives) are interned to numbers once per search. A pod set is
 * interned by object identity first (actuators share an unchanged `pods` object between a state
 * and the states derived from it) and only otherwise by its sorted names, so the pod set is a set:
 * replacing pod a then b reaches the same state as b then a.
 */
export class StateTable {
  readonly states: PlanState[] = [];
  readonly actions: (Action | undefined)[] = [];
  g: Float64Array;
  h: Float64Array;
  parent: Int32Array;
  closed: Uint8Array;
  private hashes: Int32Array;
  private keyStart: Int32Array;
  private keyLength: Int32Array;
  private pool: Float64Array;
  private poolUsed = 0;
  /** Open addressing: id + 1 per slot, 0 for an empty slot. */
  private slots: Int32Array;
  private mask: number;

  private readonly names = new Map<string, number>();
  private readonly cpuNames: UsualNames = { names: [], ids: [] };
  private readonly objectiveNames: UsualNames = { names: [], ids: [] };
  private readonly podSetsByObject = new Map<object, number>();
  private readonly podSetsByNames = new Map<string, number>();
  private lastPods: object | undefined;
  private lastPodSet = 0;

  /** The key packed by the last `find`, kept for the `insert` that may follow. */
  private scratch = new Float64Array(64);
  private scratchLength = 0;
  private scratchHash = 0;
  private scratchSlot = 0;
  /** The state whose key `derive` last copied into the scratch; -1 after `pack`. */
  private derivedFrom = -1;
  /** Where the objectives start in the scratch key (after the marker). */
  private scratchObjectives = 0;
  /** Pod set → replaced pod → replacement name → the resulting pod set. */
  private readonly replaced = new Map<number, Map<string, Map<string, number>>>();

  constructor(expected: number) {
    const capacity = Math.max(16, Math.min(expected, 4096));
    this.g = new Float64Array(capacity);
    this.h = new Float64Array(capacity);
    this.parent = new Int32Array(capacity);
    this.closed = new Uint8Array(capacity);
    this.hashes = new Int32Array(capacity);
    this.keyStart = new Int32Array(capacity);
    this.keyLength = new Int32Array(capacity);
    this.pool = new Float64Array(capacity * 8);
    let slots = 32;
    while (slots < capacity * 2) slots *= 2;
    this.slots = new Int32Array(slots);
    this.mask = slots - 1;
  }

  get size(): number {
    return this.states.length;
  }

  /** The id of a state equal to `state` (by its packed key), or -1. */
  find(state: PlanState): number {
    this.pack(state);
    return this.findPacked();
  }

  /**
   * Starts the key of a state derived from state `parent` by one change: a copy of the parent's
   * key, which the setters below change in place and `findPacked` then looks up. Only the
   * numbers change, never the key's layout (the same containers and objectives, in one order);
   * the caller sets every objective value (`setObjective`) before looking the key up.
   */
  derive(parent: number): void {
    const length = this.keyLength[parent]!;
    const key = this.room(0, length);
    if (this.derivedFrom === parent) {
      // The scratch still holds this parent's key but for what the last proposal changed: the
      // replicas, pod set and CPU before the objectives (which every proposal sets in full).
      const start = this.keyStart[parent]!;
      const pool = this.pool;
      for (let i = 0; i < this.scratchObjectives; i++) key[i] = pool[start + i]!;
      return;
    }
    const start = this.keyStart[parent]!;
    const pool = this.pool;
    let marker = -1;
    for (let i = 0; i < length; i++) {
      const x = pool[start + i]!;
      key[i] = x;
      if (marker < 0 && x === -1 && i >= 2 && (i - 2) % 3 === 0) marker = i;
    }
    this.scratchLength = length;
    this.scratchObjectives = marker + 1;
    this.derivedFrom = parent;
  }

  /** In the derived key: the replicas. */
  setReplicas(replicas: number): void {
    this.scratch[0] = replicas;
  }

  /** In the derived key: the pod set, as `replacedPodSet` gives it. */
  setPodSet(podSet: number): void {
    this.scratch[1] = podSet;
  }

  /** In the derived key: one container's CPU. The container must be one of the parent's. */
  setCpu(container: string, request: number, limit: number): void {
    const id = this.names.get(container);
    const key = this.scratch;
    for (let i = 2; i < this.scratchObjectives - 1; i += 3)
      if (key[i] === id) {
        key[i + 1] = request;
        key[i + 2] = limit;
        return;
      }
    throw new Error(`container ${container} is not in the state's key`);
  }

  /** In the derived key: the `index`-th objective's value (in the parent's objective order). */
  setObjective(index: number, value: number): void {
    this.scratch[this.scratchObjectives + 2 * index + 1] = objectiveKey(value);
  }

  /** The pod set of state `id`. */
  podSetOf(id: number): number {
    return this.pool[this.keyStart[id]! + 1]!;
  }

  /**
   * The pod set `podSet` (whose pods are `pods`) becomes when `pod` is replaced by
   * `replacementName`: worked out once per pod set and pod, then remembered.
   */
  replacedPodSet(podSet: number, pods: PlanState['pods'], pod: string, replacementName: string): number {
    let byPod = this.replaced.get(podSet);
    if (!byPod) {
      byPod = new Map();
      this.replaced.set(podSet, byPod);
    }
    let byName = byPod.get(pod);
    if (!byName) {
      byName = new Map();
      byPod.set(pod, byName);
    }
    let id = byName.get(replacementName);
    if (id === undefined) {
      const names: string[] = [];
      for (const name in pods) names.push(name === pod ? replacementName : name);
      id = this.podSetByNames(names.sort().join('\0'));
      byName.set(replacementName, id);
    }
    return id;
  }

  /** Remembers that `pods` is pod set `podSet`, so packing a state that holds it finds it at once. */
  notePods(pods: PlanState['pods'], podSet: number): void {
    this.podSetsByObject.set(pods, podSet);
  }

  /** The id of the key in the scratch (from `pack` or `derive`), or -1 with its free slot kept. */
  findPacked(): number {
    const { slots, mask, scratch, scratchLength, hashes, keyStart, keyLength, pool } = this;
    const hash = hashKey(scratch, scratchLength);
    this.scratchHash = hash;
    let slot = hash & mask;
    for (;;) {
      const entry = slots[slot]!;
      if (entry === 0) break;
      const id = entry - 1;
      if (hashes[id] === hash && keyLength[id] === scratchLength) {
        const start = keyStart[id]!;
        let i = 0;
        while (i < scratchLength && pool[start + i] === scratch[i]) i++;
        if (i === scratchLength) return id;
      }
      slot = (slot + 1) & mask;
    }
    this.scratchSlot = slot;
    return -1;
  }

  /**
   * Adds `state`, which the immediately preceding `find` did not find, and returns its id.
   * (`find` left the packed key and the free slot behind.)
   */
  insert(state: PlanState, g: number, h: number, parent: number, action: Action | undefined): number {
    const id = this.states.length;
    if (id === this.g.length) this.grow();
    if ((id + 1) * 2 > this.slots.length) this.rehash();
    const length = this.scratchLength;
    if (this.poolUsed + length > this.pool.length) {
      const bigger = new Float64Array(Math.max(this.pool.length * 2, this.poolUsed + length));
      bigger.set(this.pool);
      this.pool = bigger;
    }
    const { pool, scratch, poolUsed } = this;
    for (let i = 0; i < length; i++) pool[poolUsed + i] = scratch[i]!;
    this.keyStart[id] = poolUsed;
    this.keyLength[id] = length;
    this.poolUsed += length;
    this.hashes[id] = this.scratchHash;
    this.slots[this.scratchSlot] = id + 1;
    this.states.push(state);
    this.actions.push(action);
    this.g[id] = g;
    this.h[id] = h;
    this.parent[id] = parent;
    this.closed[id] = 0;
    return id;
  }

  /** The actions from the root to `id`. */
  path(id: number): Action[] {
    const out: Action[] = [];
    for (let n = id; n >= 0; n = this.parent[n]!) {
      const a = this.actions[n];
      if (a) out.push(a);
    }
    return out.reverse();
  }

  /** The state each action of `path(id)` leads to, in the same order. */
  pathStates(id: number): PlanState[] {
    const out: PlanState[] = [];
    for (let n = id; n >= 0; n = this.parent[n]!) if (this.actions[n]) out.push(this.states[n]!);
    return out.reverse();
  }

  private pack(state: PlanState): void {
    this.derivedFrom = -1;
    let key = this.room(0, 3);
    key[0] = state.replicas;
    key[1] = this.podSet(state.pods);
    let length = 2;
    const cpu = state.cpu;
    let i = 0;
    for (const name in cpu) {
      const c = cpu[name]!;
      key = this.room(length, 3);
      key[length++] = this.nameId(name, this.cpuNames, i++);
      key[length++] = c.request;
      key[length++] = c.limit;
    }
    // A marker between the containers and the objectives: name ids are never negative.
    key = this.room(length, 1);
    key[length++] = -1;
    const objectives = state.objectives;
    i = 0;
    for (const name in objectives) {
      key = this.room(length, 2);
      key[length++] = this.nameId(name, this.objectiveNames, i++);
      key[length++] = objectiveKey(objectives[name]!);
    }
    this.scratchLength = length;
  }

  /** The scratch key, with room for `more` numbers after `length`. */
  private room(length: number, more: number): Float64Array {
    if (length + more > this.scratch.length) {
      const bigger = new Float64Array((length + more) * 2);
      bigger.set(this.scratch);
      this.scratch = bigger;
    }
    return this.scratch;
  }

  /**
   * The id of a name, the `index`-th of its record. States of one search nearly always list the
   * same names in the same order, so the names seen first at each position are compared before
   * the map is asked (property names are interned strings: the comparison is a pointer check).
   */
  private nameId(name: string, usual: UsualNames, index: number): number {
    if (usual.names[index] === name) return usual.ids[index]!;
    let id = this.names.get(name);
    if (id === undefined) {
      id = this.names.size;
      this.names.set(name, id);
    }
    if (index === usual.names.length) {
      usual.names.push(name);
      usual.ids.push(id);
    }
    return id;
  }

  private podSet(pods: PlanState['pods']): number {
    // Candidates arrive in runs derived from one state, sharing its pods object.
    if (pods === this.lastPods) return this.lastPodSet;
    let id = this.podSetsByObject.get(pods);
    if (id !== undefined) {
      this.lastPods = pods;
      this.lastPodSet = id;
      return id;
    }
    id = this.podSetByNames(Object.keys(pods).sort().join('\0'));
    this.podSetsByObject.set(pods, id);
    this.lastPods = pods;
    this.lastPodSet = id;
    return id;
  }

  private podSetByNames(signature: string): number {
    let id = this.podSetsByNames.get(signature);
    if (id === undefined) {
      id = this.podSetsByNames.size;
      this.podSetsByNames.set(signature, id);
    }
    return id;
  }

  private grow(): void {
    const n = this.g.length * 2;
    const grown = <T extends Float64Array | Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.g = grown(this.g, (k) => new Float64Array(k));
    this.h = grown(this.h, (k) => new Float64Array(k));
    this.parent = grown(this.parent, (k) => new Int32Array(k));
    this.closed = grown(this.closed, (k) => new Uint8Array(k));
    this.hashes = grown(this.hashes, (k) => new Int32Array(k));
    this.keyStart = grown(this.keyStart, (k) => new Int32Array(k));
    this.keyLength = grown(this.keyLength, (k) => new Int32Array(k));
  }

  /** Doubles the slot table; the pending free slot of the last `find` is found again. */
  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2);
    const mask = slots.length - 1;
    for (let id = 0; id < this.states.length; id++) {
      let slot = this.hashes[id]! & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = id + 1;
    }
    let slot = this.scratchHash & mask;
    while (slots[slot] !== 0) slot = (slot + 1) & mask;
    this.scratchSlot = slot;
    this.slots = slots;
    this.mask = mask;
  }
}

/** The names seen first at each position of a record, with their ids. */
interface UsualNames {
  names: string[];
  ids: number[];
}

/** An objective's value as the key holds it: rounded to 1e-4, as `stateKey` rounds it. */
function objectiveKey(value: number): number {
  const v = Math.round(value * 1e4);
  return Number.isNaN(v) ? NAN_VALUE : v;
}

/** MurmurHash3's mixing over the 32-bit words of each (integral) number. */
function hashKey(key: Float64Array, length: number): number {
  let h = length | 0;
  for (let i = 0; i < length; i++) {
    const x = key[i]!;
    const low = x | 0;
    h = mix(h, low);
    // Most key numbers are small integers: the high word only joins in when there is one.
    if (low !== x) h = mix(h, (x / 4294967296) | 0);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & 0x7fffffff;
}

function mix(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}
