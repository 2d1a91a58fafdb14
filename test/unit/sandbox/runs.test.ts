import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { waitFor } from '../../../src/runtime/wait.js';
import type { CommandResult, OutputStream } from '../../../src/sandbox/sandbox.js';
import { droppedMarker } from '../../../src/sandbox/service/kept-output.js';
import {
  type ForgetReason,
  MISSED_OUTPUT_MARKER,
  type Run,
  type RunEvent,
  type RunSandbox,
  RunScheduler,
  type RunSchedulerOptions,
} from '../../../src/sandbox/service/runs.js';

type Out = (stream: OutputStream, text: string) => void;
/** What a command does in the fake sandbox: writes through `out`, then returns its result. */
type Script = (out: Out) => Promise<Partial<CommandResult>> | Partial<CommandResult>;

/** A sandbox whose commands are scripts of the test; the scheduler cannot tell it from a Job. */
class FakeSandbox implements RunSandbox {
  readonly jobName = 'sandbox-fake';
  constructor(
    private readonly scripts: Record<string, Script>,
    private readonly initError?: string,
  ) {}
  async init(): Promise<void> {
    if (this.initError) throw new Error(this.initError);
  }
  async runCommand(
    command: string,
    opts: { onOutput?: (stream: OutputStream, text: string) => void },
  ): Promise<CommandResult> {
    const result = { stdout: '', stderr: '', exitCode: 0, timedOut: false, truncated: false };
    if (command.startsWith('mkdir ')) return result;
    const script = this.scripts[command];
    if (!script) throw new Error(`the test has no script for ${JSON.stringify(command)}`);
    const partial = await script((stream, text) => {
      result[stream] += text;
      opts.onOutput?.(stream, text);
    });
    return { ...result, ...partial };
  }
  async teardown(): Promise<void> {}
}

function scheduler(
  scripts: Record<string, Script>,
  opts: Partial<RunSchedulerOptions> & { initError?: string } = {},
): RunScheduler {
  return new RunScheduler({
    defaultImage: 'busybox',
    maxConcurrent: 1,
    maxQueued: 100,
    history: 200,
    historyBytes: 1024 * 1024,
    runOutputBytes: 1024 * 1024,
    workdir: '/workspace',
    log: pino({ level: 'silent' }),
    newSandbox: () => new FakeSandbox(scripts, opts.initError),
    ...opts,
  });
}

/** Subscribes to a run; `ended` resolves with its events once the end event came. */
function subscriber(s: RunScheduler, id: string, onEvent?: (e: RunEvent) => void) {
  const events: RunEvent[] = [];
  let resolve!: (e: RunEvent[]) => void;
  const ended = new Promise<RunEvent[]>((r) => {
    resolve = r;
  });
  const unsubscribe = s.subscribe(id, (e) => {
    events.push(e);
    onEvent?.(e);
    if (e.type === 'end') resolve(events);
  });
  assert.ok(unsubscribe, `run ${id} is known`);
  return { events, ended };
}

/**
 * What a subscriber learnt, independent of how output was cut into events: the other events in
 * order, and each step's output per stream. Fails on output outside its step.
 */
function transcript(events: RunEvent[]) {
  const steps: RunEvent[] = [];
  const output: Record<string, string> = {};
  let open: number | undefined;
  for (const e of events) {
    if (e.type === 'output') {
      assert.equal(e.index, open, `output of step ${e.index} while step ${open} is the open one`);
      output[`${e.index} ${e.stream}`] = (output[`${e.index} ${e.stream}`] ?? '') + e.text;
      continue;
    }
    if (e.type === 'step-start') open = e.index;
    if (e.type === 'step-end') open = undefined;
    steps.push(e);
  }
  assert.equal(events.filter((e) => e.type === 'end').length, 1, 'exactly one end event');
  return { steps, output };
}

const immediate = () => new Promise<void>((r) => setImmediate(r));

describe('RunScheduler', () => {
  test('a late subscriber gets the run rebuilt from its state: the steps, output and result the live one got', async () => {
    const s = scheduler({
      build: async (out) => {
        out('stdout', 'compiling\n');
        await immediate();
        out('stderr', 'warning: unused\n');
        out('stdout', 'done\n');
        return {};
      },
      test: (out) => {
        out('stderr', '1 failing\n');
        return { exitCode: 3 };
      },
      deploy: () => ({}),
    });
    const run = s.submit({ commands: ['build', 'test', 'deploy'] });
    const live = await subscriber(s, run.id).ended;
    const late = subscriber(s, run.id).events;

    assert.deepEqual(transcript(late), transcript(live));
    assert.deepEqual(transcript(live).output, {
      '0 stdout': 'compiling\ndone\n',
      '0 stderr': 'warning: unused\n',
      '1 stderr': '1 failing\n',
    });
    assert.deepEqual(
      transcript(late).steps.filter((e) => e.type === 'step-end'),
      [
        { type: 'step-end', index: 0, status: 'succeeded', exitCode: 0 },
        { type: 'step-end', index: 1, status: 'failed', exitCode: 3 },
        { type: 'step-end', index: 2, status: 'skipped' },
      ],
    );
    assert.deepEqual(late.at(-1), { type: 'end', status: 'failed' });
    // The replay is the stored output, one event per step and stream.
    assert.equal(late.filter((e) => e.type === 'output').length, 3);
    const stored = s.get(run.id)!;
    assert.equal(stored.steps[0]?.stdout, 'compiling\ndone\n');
    assert.equal(stored.outputTruncated, undefined);
  });

  test('a subscriber arriving at any moment of a run gets every event once: its state so far, then the live ones', async () => {
    let tick: () => void = () => {};
    const s = scheduler({
      chatty: async (out) => {
        for (let i = 0; i < 20; i++) {
          out('stdout', `line ${i}\n`);
          if (i % 3 === 0) out('stderr', `note ${i}\n`);
          tick();
          await immediate();
        }
        return {};
      },
      quiet: () => ({}),
      after: (out) => {
        out('stdout', 'after\n');
        tick();
        return {};
      },
    });
    const run = s.submit({ commands: ['chatty', 'quiet', 'after'] });
    const late: Promise<RunEvent[]>[] = [];
    // Between pieces of output, as a browser connecting mid-run does.
    tick = () => late.push(subscriber(s, run.id).ended);
    // And while an event is being delivered, for each kind of event the run sends.
    const first = subscriber(s, run.id, () => late.push(subscriber(s, run.id).ended));
    const all = transcript(await first.ended);
    assert.equal(all.output['0 stdout'], Array.from({ length: 20 }, (_, i) => `line ${i}\n`).join(''));
    assert.ok(late.length > 40, `${late.length} subscribers came during the run`);
    for (const [n, events] of (await Promise.all(late)).entries()) {
      assert.deepEqual(transcript(events), all, `subscriber ${n}`);
    }
  });

  test('with maxQueued 0 a run is taken while a slot is free, and refused only when every slot is busy', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const s = scheduler(
      { hold: () => held.then(() => ({})), quick: () => ({}) },
      { maxConcurrent: 2, maxQueued: 0 },
    );
    const first = s.submit({ commands: ['hold'] });
    const second = s.submit({ commands: ['hold'] });
    assert.deepEqual([first.status, second.status], ['running', 'running']);
    assert.throws(() => s.submit({ commands: ['quick'] }), {
      name: 'QueueFullError',
      message: 'all 2 sandboxes are busy and no run may wait; try again later',
    });
    assert.equal(s.queuedCount, 0);
    release();
    await Promise.all([subscriber(s, first.id).ended, subscriber(s, second.id).ended]);
    // A slot is free once its run's sandbox is torn down, just after the run's end event.
    await waitFor(() => s.activeCount < 2, { description: 'a slot to be free', timeoutMs: 10_000 });
    const third = s.submit({ commands: ['quick'] });
    assert.equal((await subscriber(s, third.id).ended).at(-1)?.type, 'end');
    assert.equal(s.get(third.id)?.status, 'succeeded');
  });

  test('a subscriber that reconnects with the id of the last event it got gets the rest of the run, nothing missed or repeated', async () => {
    let tick: () => void = () => {};
    const s = scheduler({
      chatty: async (out) => {
        for (let i = 0; i < 8; i++) {
          out('stdout', `line ${i}\n`);
          if (i % 3 === 0) out('stderr', `note ${i}\n`);
          tick();
          await immediate();
        }
        return {};
      },
      failing: (out) => {
        out('stderr', 'broken\n');
        return { exitCode: 2 };
      },
      never: () => ({}),
    });
    const run = s.submit({ commands: ['chatty', 'failing', 'never'] });
    const live: [RunEvent, string][] = [];
    const resumedMidRun: { upTo: number; events: RunEvent[]; ended: Promise<unknown> }[] = [];
    let done!: () => void;
    const ended = new Promise<void>((r) => {
      done = r;
    });
    // Mid-run, a subscriber that dropped a few events ago comes back with its last id.
    tick = () => {
      const upTo = live.length - 3;
      if (upTo < 1) return;
      const events: RunEvent[] = [];
      let end!: () => void;
      const resumedEnd = new Promise<void>((r) => {
        end = r;
      });
      s.subscribe(
        run.id,
        (e) => {
          events.push(e);
          if (e.type === 'end') end();
        },
        live[upTo - 1]![1],
      );
      resumedMidRun.push({ upTo, events, ended: resumedEnd });
    };
    s.subscribe(run.id, (e, id) => {
      live.push([e, id]);
      if (e.type === 'end') done();
    });
    await ended;
    const all = transcript(live.map(([e]) => e));
    assert.equal(new Set(live.map(([, id]) => id)).size, live.length, 'every event has an id of its own');
    assert.ok(resumedMidRun.length >= 5, `${resumedMidRun.length} subscribers resumed mid-run`);
    for (const { upTo, events, ended: resumedEnd } of resumedMidRun) {
      await resumedEnd;
      assert.deepEqual(
        transcript([...live.slice(0, upTo).map(([e]) => e), ...events]),
        all,
        `resumed after ${upTo}`,
      );
    }
    // After the run, from every event on.
    for (let upTo = 1; upTo < live.length; upTo++) {
      const rest: RunEvent[] = [];
      s.subscribe(run.id, (e) => rest.push(e), live[upTo - 1]![1]);
      assert.deepEqual(
        transcript([...live.slice(0, upTo).map(([e]) => e), ...rest]),
        all,
        `resumed after ${upTo}`,
      );
    }
    // Nothing follows the end; an id the run never sent is refused.
    assert.equal(s.isLastEventId(run.id, live.at(-1)![1]), true);
    assert.equal(s.isLastEventId(run.id, live.at(-2)![1]), false);
    for (const bad of ['7', 'x.0.0', `${live.length + 5}.0.0`]) {
      assert.throws(() => s.subscribe(run.id, () => {}, bad), {
        name: 'EventIdError',
        message: `Last-Event-ID "${bad}" is not an event id of run ${run.id}`,
      });
    }
  });

  test('a subscriber that reconnects after output that was not kept is told it missed it', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const s = scheduler(
      {
        long: async (out) => {
          out('stdout', 'kept\n');
          out('stdout', 'not kept\n');
          await held;
          out('stdout', 'later\n');
          return {};
        },
      },
      { runOutputBytes: 5, historyBytes: 5 },
    );
    const run = s.submit({ commands: ['long'] });
    const ids: string[] = [];
    let sawLaterOutput!: () => void;
    const later = new Promise<void>((r) => {
      sawLaterOutput = r;
    });
    s.subscribe(run.id, (e, id) => {
      ids.push(id);
      if (e.type === 'output' && e.text.includes('not kept')) sawLaterOutput();
    });
    await later;
    const resumed: RunEvent[] = [];
    // Back after 'not kept\n', which was sent but not stored: nothing is missed, nothing repeated.
    s.subscribe(run.id, (e) => resumed.push(e), ids.at(-1));
    // Back after 'kept\n' only: what followed cannot be sent again, and the stream says so.
    const gap: RunEvent[] = [];
    s.subscribe(run.id, (e) => gap.push(e), ids.at(-2));
    release();
    await subscriber(s, run.id).ended;
    const stdout = (events: RunEvent[]) =>
      events.map((e) => (e.type === 'output' && e.stream === 'stdout' ? e.text : '')).join('');
    assert.equal(stdout(resumed), `later\n${droppedMarker(15, 5)}`);
    assert.equal(stdout(gap), `${MISSED_OUTPUT_MARKER}later\n${droppedMarker(15, 5)}`);
  });

  test("output past the run's limit is still streamed, but stored cut and ending with a line saying how much was dropped", async () => {
    let dropped = 0;
    const s = scheduler(
      {
        // 61 bytes: 39 left of the run's 100.
        first: (out) => {
          out('stdout', 'a'.repeat(61));
          return {};
        },
        // 'é' is 2 bytes: the third piece is cut at a character boundary, leaving 1 byte.
        second: (out) => {
          for (let i = 0; i < 5; i++) out('stdout', 'é'.repeat(7));
          out('stderr', 'é');
          return {};
        },
        third: (out) => {
          out('stdout', 'znever stored\n');
          return {};
        },
      },
      { runOutputBytes: 100, historyBytes: 1000, onOutputDropped: (bytes) => (dropped += bytes) },
    );
    const run = s.submit({ commands: ['first', 'second', 'third'] });
    const live = transcript(await subscriber(s, run.id).ended);
    const stored = s.get(run.id)!;

    assert.equal(stored.steps[0]?.stdout, 'a'.repeat(61));
    assert.equal(stored.steps[0]?.truncated, undefined);
    // 14 + 14 + 10 bytes kept of 70; the last byte of room cannot hold an 'é', but holds a 'z'.
    assert.equal(stored.steps[1]?.stdout, `${'é'.repeat(19)}${droppedMarker(32, 100)}`);
    assert.equal(stored.steps[1]?.stderr, droppedMarker(2, 100));
    assert.equal(stored.steps[2]?.stdout, `z${droppedMarker(13, 100)}`);
    assert.match(
      stored.steps[2]?.stdout ?? '',
      /\[output truncated: 13 bytes not kept, past the run's limit of 100 bytes\]\n$/,
    );
    assert.deepEqual(
      stored.steps.map((st) => st.truncated),
      [undefined, true, true],
    );
    assert.equal((JSON.parse(JSON.stringify(stored)) as Run).outputTruncated, true);
    assert.equal(dropped, 32 + 2 + 13);

    // Live subscribers got all of it, and the same closing line.
    assert.equal(live.output['1 stdout'], `${'é'.repeat(35)}${droppedMarker(32, 100)}`);
    assert.equal(live.output['2 stdout'], `znever stored\n${droppedMarker(13, 100)}`);
    // A late one gets what was kept.
    const late = transcript(subscriber(s, run.id).events);
    assert.equal(late.output['1 stdout'], stored.steps[1]?.stdout);
    assert.deepEqual(late.steps, live.steps);
  });

  test('finished runs past the history byte limit are forgotten oldest first, and the service logs it', async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino(
      new Writable({
        write(chunk, _enc, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    const forgotten: [string, ForgetReason][] = [];
    const s = scheduler(
      {
        print: (out) => {
          out('stdout', 'x'.repeat(100));
          return {};
        },
        quiet: () => ({}),
      },
      {
        history: 3,
        historyBytes: 250,
        runOutputBytes: 100,
        log,
        onRunForgotten: (run, reason) => forgotten.push([run.id, reason]),
      },
    );
    const finished = async (commands: string[]) => {
      const run = s.submit({ commands });
      await subscriber(s, run.id).ended;
      return run.id;
    };
    const a = await finished(['print']);
    const b = await finished(['print']);
    assert.equal(s.retainedHistoryBytes, 200);
    const c = await finished(['print']);
    assert.deepEqual(forgotten, [[a, 'history-bytes']]);
    assert.equal(s.get(a), undefined);
    assert.equal(
      s.subscribe(a, () => {}),
      undefined,
    );
    assert.deepEqual(
      s.list().map((r) => r.id),
      [c, b],
    );
    assert.equal(s.retainedHistoryBytes, 200);
    const line = lines.find((l) => /history|limit/.test(String(l['msg'])));
    assert.ok(line, `a log line tells of it: ${JSON.stringify(lines)}`);
    assert.deepEqual(line['runs'], [a]);
    assert.equal(line['limitBytes'], 250);

    // Beyond `history` runs, the oldest goes too, whatever it holds.
    const d = await finished(['quiet']);
    const e = await finished(['quiet']);
    assert.deepEqual(forgotten.slice(1), [[b, 'history']]);
    assert.deepEqual(
      s.list().map((r) => r.id),
      [e, d, c],
    );
    assert.equal(s.retainedHistoryBytes, 100);
  });

  test('output a sandbox returns without streaming it is stored and sent all the same', async () => {
    const s = scheduler({ batch: () => ({ stdout: 'all at once\n', stderr: 'and this\n' }) });
    const run = s.submit({ commands: ['batch'] });
    const live = transcript(await subscriber(s, run.id).ended);
    assert.deepEqual(live.output, { '0 stdout': 'all at once\n', '0 stderr': 'and this\n' });
    assert.equal(s.get(run.id)?.steps[0]?.stdout, 'all at once\n');
  });

  test('a run whose sandbox fails skips the steps it never started; the step it is lost under ends as an error naming why, in the live events and the replay alike', async () => {
    const failing = scheduler({}, { initError: 'the image could not be pulled' });
    const notStarted = failing.submit({ commands: ['a', 'b'] });
    const live = await subscriber(failing, notStarted.id).ended;
    assert.deepEqual(transcript(subscriber(failing, notStarted.id).events), transcript(live));
    assert.deepEqual(live.slice(-4), [
      { type: 'step-end', index: 0, status: 'skipped' },
      { type: 'step-end', index: 1, status: 'skipped' },
      { type: 'status', status: 'error', error: 'the image could not be pulled' },
      { type: 'end', status: 'error' },
    ]);

    const lost = scheduler(
      {
        long: (out) => {
          out('stdout', 'working\n');
          throw new Error('the sandbox Pod was deleted');
        },
      },
      { runOutputBytes: 3, historyBytes: 3 },
    );
    const run = lost.submit({ commands: ['long', 'next'] });
    const events = await subscriber(lost, run.id).ended;
    const replayed = transcript(subscriber(lost, run.id).events);
    assert.deepEqual(
      events.filter((e) => e.type === 'step-end'),
      [
        { type: 'step-end', index: 0, status: 'error', error: 'the sandbox Pod was deleted' },
        { type: 'step-end', index: 1, status: 'skipped' },
      ],
    );
    assert.deepEqual(replayed.steps, transcript(events).steps);
    assert.equal(transcript(events).output['0 stdout'], `working\n${droppedMarker(5, 3)}`);
    assert.equal(replayed.output['0 stdout'], `wor${droppedMarker(5, 3)}`);
    assert.equal(lost.get(run.id)?.steps[0]?.stdout, `wor${droppedMarker(5, 3)}`);
    assert.deepEqual(
      lost.get(run.id)?.steps.map((st) => [st.status, st.error]),
      [
        ['error', 'the sandbox Pod was deleted'],
        ['skipped', undefined],
      ],
    );
    assert.equal(lost.get(run.id)?.error, 'the sandbox Pod was deleted');
  });

  test('a run output limit larger than the history byte limit is refused', () => {
    assert.throws(
      () => scheduler({}, { runOutputBytes: 2000, historyBytes: 1000 }),
      /runOutputBytes \(2000\) is larger than historyBytes \(1000\)/,
    );
  });
});
