import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CLAIMS_DIR, ClaimRegistry } from '../../../src/conductor/claims.js';
import { waitFor } from '../../../src/runtime/wait.js';

async function handoff(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tutti-claims-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function replica(t: TestContext, dir: string, owner: string, timeoutMs = 60_000) {
  const claims = new ClaimRegistry(dir, timeoutMs, owner);
  await claims.start();
  t.after(() => claims.stop());
  return claims;
}

/** Stops a registry's refreshes, as a paused or killed process's stop. */
function pause(claims: ClaimRegistry): void {
  clearInterval((claims as unknown as { timer: NodeJS.Timeout }).timer);
}

/** Ages every claim of the directory, as if their owner had stopped refreshing them. */
async function age(dir: string, ms: number): Promise<void> {
  const old = new Date(Date.now() - ms);
  for (const name of await readdir(join(dir, CLAIMS_DIR)))
    await utimes(join(dir, CLAIMS_DIR, name), old, old);
}

test('one replica holds a file version; the other is refused until it is released', async (t) => {
  const dir = await handoff(t);
  const a = await replica(t, dir, 'host-a/1');
  const b = await replica(t, dir, 'host-b/1');
  assert.equal(await a.acquire('intent-1.json@abc'), true);
  assert.equal(await b.acquire('intent-1.json@abc'), false);
  const claim = await readFile(join(dir, CLAIMS_DIR, 'intent-1.json@abc.claim'), 'utf8');
  assert.match(claim, /"owner":"host-a\/1"/, 'the claim names its owner');
  await a.release('intent-1.json@abc');
  assert.equal(await b.acquire('intent-1.json@abc'), true);
});

test("a stale claim is taken over, and its old owner's release leaves the new claim alone", async (t) => {
  const dir = await handoff(t);
  const a = await replica(t, dir, 'host-a/1', 500);
  const b = await replica(t, dir, 'host-b/1', 500);
  assert.equal(await a.acquire('intent-1.json@abc'), true);
  assert.equal(await b.acquire('intent-1.json@abc'), false, 'a live claim is not taken over');
  // A paused: it refreshes nothing until B has taken its claim over, then wakes up.
  pause(a);
  await waitFor(() => b.acquire('intent-1.json@abc'), {
    description: 'the stale claim taken over',
    timeoutMs: 10_000,
    intervalMs: 50,
  });
  await a.release('intent-1.json@abc');
  const claim = await readFile(join(dir, CLAIMS_DIR, 'intent-1.json@abc.claim'), 'utf8');
  assert.match(claim, /"owner":"host-b\/1"/);
});

test('a stopped replica that held nothing leaves no owner file; a dead one is cleared at start', async (t) => {
  const dir = await handoff(t);
  const a = new ClaimRegistry(dir, 1_000, 'host-a/1');
  await a.start();
  await a.stop();
  assert.deepEqual(await readdir(join(dir, CLAIMS_DIR)), []);

  const dead = new ClaimRegistry(dir, 1_000, 'host-dead/1');
  await dead.start();
  // Killed without stopping: its owner file stays, refreshed no more.
  pause(dead);
  await age(dir, 5_000);
  await replica(t, dir, 'host-b/1', 1_000);
  const left = await readdir(join(dir, CLAIMS_DIR));
  assert.ok(!left.some((n) => n.includes('host-dead')), `dead owner file removed: ${left.join(', ')}`);
});

test('a replica whose owner file was removed behind its back makes it again on its next claim', async (t) => {
  const dir = await handoff(t);
  const a = await replica(t, dir, 'host-a/1');
  await rm(join(dir, CLAIMS_DIR), { recursive: true });
  assert.equal(await a.acquire('intent-1.json@abc'), true);
  const claim = await readFile(join(dir, CLAIMS_DIR, 'intent-1.json@abc.claim'), 'utf8');
  assert.match(claim, /"owner":"host-a\/1"/);
});
