/**
 * A binary min-heap of state ids with decrease-key: the open list of the A* search. Each id is in
 * the heap at most once (a cheaper path moves it up instead of adding a stale entry). Ties on the
 * priority go to the smaller tie-breaker (the search passes the heuristic: the state nearer the
 * goal), then to the older id, so a search is deterministic.
 */
export class IdHeap {
  private heap: Int32Array;
  /** Index in `heap` per id; -1 when the id is not in the heap. */
  private position: Int32Array;
  private priority: Float64Array;
  private tie: Float64Array;
  private count = 0;

  constructor(expected = 64) {
    const n = Math.max(16, expected);
    this.heap = new Int32Array(n);
    this.position = new Int32Array(n).fill(-1);
    this.priority = new Float64Array(n);
    this.tie = new Float64Array(n);
  }

  get size(): number {
    return this.count;
  }

  has(id: number): boolean {
    return id < this.position.length && this.position[id]! >= 0;
  }

  /** Adds `id`, or moves it up when it is already in the heap with a higher priority. */
  push(id: number, priority: number, tie: number): void {
    if (id >= this.position.length) this.growIds(id + 1);
    const at = this.position[id]!;
    if (at >= 0) {
      if (priority > this.priority[id]! || (priority === this.priority[id] && tie >= this.tie[id]!)) return;
      this.priority[id] = priority;
      this.tie[id] = tie;
      this.up(at, id);
      return;
    }
    if (this.count === this.heap.length) {
      const heap = new Int32Array(this.heap.length * 2);
      heap.set(this.heap);
      this.heap = heap;
    }
    this.priority[id] = priority;
    this.tie[id] = tie;
    this.up(this.count++, id);
  }

  /** The id with the lowest priority, removed; -1 when empty. */
  pop(): number {
    if (this.count === 0) return -1;
    const heap = this.heap;
    const top = heap[0]!;
    this.position[top] = -1;
    const last = heap[--this.count]!;
    if (this.count > 0) this.down(0, last);
    return top;
  }

  private less(a: number, b: number): boolean {
    const pa = this.priority[a]!;
    const pb = this.priority[b]!;
    if (pa !== pb) return pa < pb;
    const ta = this.tie[a]!;
    const tb = this.tie[b]!;
    return ta !== tb ? ta < tb : a < b;
  }

  private up(i: number, id: number): void {
    const { heap, position } = this;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent]!;
      if (!this.less(id, p)) break;
      heap[i] = p;
      position[p] = i;
      i = parent;
    }
    heap[i] = id;
    position[id] = i;
  }

  private down(i: number, id: number): void {
    const { heap, position } = this;
    const n = this.count;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && this.less(heap[r]!, heap[l]!) ? r : l;
      const c = heap[child]!;
      if (!this.less(c, id)) break;
      heap[i] = c;
      position[c] = i;
      i = child;
    }
    heap[i] = id;
    position[id] = i;
  }

  private growIds(min: number): void {
    let n = this.position.length * 2;
    while (n < min) n *= 2;
    const position = new Int32Array(n).fill(-1);
    position.set(this.position);
    this.position = position;
    const priority = new Float64Array(n);
    priority.set(this.priority);
    this.priority = priority;
    const tie = new Float64Array(n);
    tie.set(this.tie);
    this.tie = tie;
  }
}
