import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureBinaries } from '../../src/cluster/binaries.js';
import { freePort } from '../../src/cluster/ports.js';
import { waitFor } from '../../src/runtime/wait.js';

export interface RunningFerretDb {
  /** mongodb:// URI of the server (no database in it). */
  readonly uri: string;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/**
 * FerretDB (a MongoDB-wire server) with its SQLite backend on a free loopback port and a
 * temporary data directory. The binary comes from the repo's cache (`tutti cluster build
 * --ferretdb`), built from the Go module proxy on first use.
 */
export async function startFerretDb(): Promise<RunningFerretDb> {
  const { ferretdb } = await ensureBinaries(['ferretdb']);
  const dir = await mkdtemp(join(tmpdir(), 'ferretdb-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    ferretdb,
    [
      '--handler=sqlite',
      `--sqlite-url=file:${dir}/`,
      `--state-dir=${dir}`,
      `--listen-addr=127.0.0.1:${port}`,
      '--debug-addr=-',
      '--telemetry=disable',
      '--log-level=WARN',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    stderr = (stderr + d).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const force = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(force);
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`ferretdb exited with ${child.exitCode}: ${stderr}`);
        return accepts(port);
      },
      { description: `ferretdb to listen on 127.0.0.1:${port}`, timeoutMs: 30_000, intervalMs: 100 },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { uri: `mongodb://127.0.0.1:${port}/`, stop };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
