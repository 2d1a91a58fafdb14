import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import {
  access,
  chmod,
  constants,
  cp,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { withFileLock } from './lock.js';
import { cacheDir } from './paths.js';

/** The Kubernetes release the local control plane runs. */
export const KUBERNETES_VERSION = 'v1.37.2';
/** etcd minor that Kubernetes 1.37 is tested with (its go.mod requires the 3.7 client). */
export const ETCD_VERSION = 'v3.7.3';
export const KWOK_VERSION = 'v0.8.0';
export const HELM_VERSION = 'v3.22.0';
/** The last FerretDB 1.x: its SQLite backend is a MongoDB-wire server that needs no other server. */
export const FERRETDB_VERSION = 'v1.24.0';

export type BinaryName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kwok'
  | 'kwokctl'
  | 'helm'
  | 'ferretdb';

/** A group of binaries built from one Go module at one version. */
interface GoBuild {
  readonly id: string;
  readonly module: string;
  readonly version: string;
  readonly binaries: Partial<Record<BinaryName, string>>;
  readonly ldflags: string[];
  /** Extra go.mod lines, computed from the module itself when needed. */
  goModExtra?(modDir: string): Promise<string>;
  /** Source files of a wrapper main package, for modules that ship no importable command. */
  readonly mainFiles?: Record<string, string>;
  /**
   * Files to change in the module's source, keyed by path in the module. The build then uses a
   * patched copy of the module (the module cache itself is read-only to `go build`).
   */
  patches?(modDir: string): Promise<Record<string, string>>;
}

const kubeMinor = KUBERNETES_VERSION.split('.')[1]!;
const stagingVersion = `v0.${KUBERNETES_VERSION.slice(KUBERNETES_VERSION.indexOf('.') + 1)}`;

const BUILDS: readonly GoBuild[] = [
  {
    id: 'kubernetes',
    module: 'k8s.io/kubernetes',
    version: KUBERNETES_VERSION,
    binaries: {
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
    },
    ldflags: [
      `-X k8s.io/component-base/version.gitVersion=${KUBERNETES_VERSION}`,
      `-X k8s.io/component-base/version.gitMajor=1`,
      `-X k8s.io/component-base/version.gitMinor=${kubeMinor}`,
      '-X k8s.io/component-base/version.gitTreeState=clean',
      `-X k8s.io/client-go/pkg/version.gitVersion=${KUBERNETES_VERSION}`,
    ],
    // k8s.io/kubernetes replaces its staging modules with local paths; outside its tree each
    // must be pinned to the published v0.X.Y that matches the release.
    async goModExtra(modDir) {
      const goMod = await readFile(join(modDir, 'go.mod'), 'utf8');
      const required = new Set([...goMod.matchAll(/^\s+(k8s\.io\/[\w.-]+) v0\.0\.0$/gm)].map((m) => m[1]));
      const staged = [...goMod.matchAll(/^\s+(k8s\.io\/[\w.-]+) => \.\/staging\//gm)].map((m) => m[1]!);
      const pins = staged.filter((m) => required.has(m)).map((m) => `\t${m} => ${m} ${stagingVersion}`);
      return `replace (\n${pins.join('\n')}\n)\n`;
    },
  },
  {
    id: 'etcd',
    module: 'go.etcd.io/etcd/server/v3',
    version: ETCD_VERSION,
    binaries: { etcd: '.' },
    ldflags: [],
    mainFiles: {
      'main.go':
        'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
    },
  },
  {
    // The suffix is the revision of our patches, so that a changed patch rebuilds.
    id: 'kwok-exec2',
    module: 'sigs.k8s.io/kwok',
    version: KWOK_VERSION,
    // kwokctl is not used by the local plane; it is built for users who want its own tooling.
    binaries: { kwok: 'sigs.k8s.io/kwok/cmd/kwok', kwokctl: 'sigs.k8s.io/kwok/cmd/kwokctl' },
    ldflags: [`-X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION.slice(1)}`],
    patches: kwokExecPatches,
  },
  {
    id: 'helm',
    module: 'helm.sh/helm/v3',
    version: HELM_VERSION,
    binaries: { helm: 'helm.sh/helm/v3/cmd/helm' },
    ldflags: [`-X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}`],
  },
  {
    // The planner's MongoDB trace store is tested against it. The suffix is our patch's revision.
    id: 'ferretdb-v1',
    module: 'github.com/FerretDB/FerretDB',
    version: FERRETDB_VERSION,
    binaries: { ferretdb: 'github.com/FerretDB/FerretDB/cmd/ferretdb' },
    ldflags: [],
    // Its version package panics unless the release's version.txt (written by its own build
    // tooling, absent from the module) is there.
    patches: async () => ({ 'build/version/version.txt': `${FERRETDB_VERSION}\n` }),
  },
];

export const CONTROL_PLANE_BINARIES: readonly BinaryName[] = [
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kwok',
];

function buildOf(name: BinaryName): GoBuild {
  const build = BUILDS.find((b) => name in b.binaries);
  if (!build) throw new Error(`no build is known for ${name}`);
  return build;
}

/** Directories the user points at that already hold binaries; they win over our cache. */
function userBinaryDirs(): string[] {
  return [process.env['TUTTI_BIN_DIR'], process.env['KUBEBUILDER_ASSETS']].filter((d): d is string => !!d);
}

function cachedPath(name: BinaryName): string {
  const build = buildOf(name);
  return join(cacheDir(), 'bin', `${build.id}-${build.version}`, name);
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Where a binary is right now, without building anything. */
export async function locateBinary(name: BinaryName): Promise<string | undefined> {
  for (const dir of userBinaryDirs()) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  const cached = cachedPath(name);
  return (await isExecutable(cached)) ? cached : undefined;
}

export interface EnsureOptions {
  /** Called with a line per build step, for progress output. */
  onProgress?: (message: string) => void;
  /**
   * Aborting it (Ctrl-C) stops the build: its go is ended and waited for, what it built so far is
   * removed, and the call rejects with the signal's reason.
   */
  signal?: AbortSignal;
}

/** Returns the path of every named binary, building the missing ones from the Go module proxy. */
export async function ensureBinaries(
  names: readonly BinaryName[],
  options: EnsureOptions = {},
): Promise<Record<BinaryName, string>> {
  const found = {} as Record<BinaryName, string>;
  const missing: BinaryName[] = [];
  for (const name of names) {
    const path = await locateBinary(name);
    if (path) found[name] = path;
    else missing.push(name);
  }
  const builds = [...new Set(missing.map(buildOf))];
  for (const build of builds) {
    const wanted = (Object.keys(build.binaries) as BinaryName[]).filter((n) => missing.includes(n));
    await withFileLock(
      join(cacheDir(), 'locks', `build-${build.id}.lock`),
      async () => {
        const stillMissing: BinaryName[] = [];
        for (const n of wanted) if (!(await isExecutable(cachedPath(n)))) stillMissing.push(n);
        if (stillMissing.length > 0) await goBuild(build, stillMissing, options);
      },
      {
        // A build takes minutes: whoever waits on it hears who builds what, and where it logs.
        onWait: options.onProgress,
        signal: options.signal,
        purpose: `building ${wanted.join(', ')} from ${build.module}@${build.version} (log: ${buildLogPath(build)})`,
      },
    );
    for (const n of missing) if (n in build.binaries) found[n] = cachedPath(n);
  }
  return found;
}

function buildDir(build: GoBuild): string {
  return join(cacheDir(), 'build', `${build.id}-${build.version}`);
}

function buildLogPath(build: GoBuild): string {
  return join(buildDir(build), 'build.log');
}

async function goBuild(build: GoBuild, names: BinaryName[], options: EnsureOptions): Promise<void> {
  const say = options.onProgress ?? (() => {});
  const workDir = buildDir(build);
  const binDir = join(cacheDir(), 'bin', `${build.id}-${build.version}`);
  const stagingDir = `${binDir}.partial-${process.pid}`;
  await mkdir(workDir, { recursive: true });
  const logPath = buildLogPath(build);
  const log = createWriteStream(logPath, { flags: 'a' });
  const env = { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: process.env['GOTOOLCHAIN'] ?? 'auto' };
  const go = (args: string[]) => run('go', args, workDir, env, log, logPath, options.signal);
  try {
    say(
      `building ${names.join(', ')} from ${build.module}@${build.version} (first run only; log: ${logPath})`,
    );
    const started = Date.now();
    await writeFile(join(workDir, 'go.mod'), `module tutti.dev/build/${build.id}\n\ngo 1.24\n`);
    for (const [file, source] of Object.entries(build.mainFiles ?? {})) {
      await writeFile(join(workDir, file), source);
    }
    const modDir = (await go(['mod', 'download', '-json', `${build.module}@${build.version}`])).match(
      /"Dir":\s*"([^"]+)"/,
    )?.[1];
    if (!modDir) throw new Error(`go mod download did not report where ${build.module} is`);
    let extra = build.goModExtra ? await build.goModExtra(modDir) : '';
    if (build.patches) {
      const copy = await patchedCopy(workDir, modDir, await build.patches(modDir));
      extra += `replace ${build.module} => ${copy}\n`;
    }
    await writeFile(
      join(workDir, 'go.mod'),
      `module tutti.dev/build/${build.id}\n\ngo 1.24\n\nrequire ${build.module} ${build.version}\n\n${extra}`,
    );
    const packages = names.map((n) => build.binaries[n]!);
    // `go get` records every module the commands import, so the builds below resolve offline.
    await go([
      'get',
      ...packages.map((p) => (p === '.' ? build.module : p)).map((p) => `${p}@${build.version}`),
    ]);
    await rm(stagingDir, { recursive: true, force: true });
    await mkdir(stagingDir, { recursive: true });
    const ldflags = ['-s', '-w', ...build.ldflags].join(' ');
    for (const name of names) {
      await go([
        'build',
        '-trimpath',
        `-ldflags=${ldflags}`,
        '-o',
        join(stagingDir, name),
        build.binaries[name]!,
      ]);
    }
    await mkdir(binDir, { recursive: true });
    for (const name of names) await rename(join(stagingDir, name), join(binDir, name));
    say(`built ${names.join(', ')} in ${((Date.now() - started) / 1000).toFixed(0)} s into ${binDir}`);
  } finally {
    await rm(stagingDir, { recursive: true, force: true });
    log.end();
  }
}

async function patchedCopy(workDir: string, modDir: string, files: Record<string, string>): Promise<string> {
  const copy = join(workDir, 'patched-src');
  await rm(copy, { recursive: true, force: true });
  await cp(modDir, copy, { recursive: true });
  await chmodTree(copy);
  for (const [rel, content] of Object.entries(files)) await writeFile(join(copy, rel), content);
  return copy;
}

/** The module cache is read-only; the copy must be writable (and removable later). */
async function chmodTree(dir: string): Promise<void> {
  await chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await chmodTree(path);
    else await chmod(path, 0o644);
  }
}

/** Replaces `from` with `to` in a file of the module, failing loudly when the source moved on. */
async function patchFile(modDir: string, file: string, from: string, to: string): Promise<string> {
  const source = await readFile(join(modDir, file), 'utf8');
  if (!source.includes(from)) {
    throw new Error(`${file} of the module changed; Tutti's patch for it no longer applies`);
  }
  return source.replace(from, to);
}

/**
 * Two fixes to kwok's local exec, so that exec into a simulated pod behaves as with a kubelet:
 * - the command's exit error is wrapped, so the streaming server no longer sees an exit code and
 *   reports every failure as an internal error; unwrapping it restores the `NonZeroExitCode`
 *   status that exec clients read the exit code from;
 * - the command's stdin pipe is never closed, so a command that reads to EOF never ends.
 */
async function kwokExecPatches(modDir: string): Promise<Record<string, string>> {
  const server = 'pkg/kwok/server/debugging_exec.go';
  const call = 'err := utilsexec.Exec(ctx, cmd[0], cmd[1:]...)\n\tif err != nil {\n\t\treturn err\n\t}';
  const execUtil = 'pkg/utils/exec/exec.go';
  const copy = '_, _ = io.Copy(inPipe, opt.In)\n';
  return {
    [server]: await patchFile(modDir, server, call, call.replace('return err', 'return withExitCode(err)')),
    [execUtil]: await patchFile(modDir, execUtil, copy, `${copy}\t\t\t\t_ = inPipe.Close()\n`),
    'pkg/kwok/server/zz_tutti_exit_code.go': `package server

import (
\t"errors"
\tosexec "os/exec"

\tutilexec "k8s.io/utils/exec"
)

// withExitCode exposes the exit status of a finished command to the streaming server.
func withExitCode(err error) error {
\tvar exitErr *osexec.ExitError
\tif errors.As(err, &exitErr) && exitErr.Exited() {
\t\treturn utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
\t}
\treturn err
}
`,
  };
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv,
  log: NodeJS.WritableStream,
  logPath: string,
  signal?: AbortSignal,
): Promise<string> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    log.write(`$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    // A go left running would build on for minutes after the command ended (and hold the cache
    // files it writes); the call ends once it has gone.
    const stop = () => child.kill('SIGTERM');
    signal?.addEventListener('abort', stop, { once: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d;
      log.write(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      log.write(d);
    });
    child.on('error', (err) =>
      reject(new Error(`cannot run ${cmd}: ${err.message} (is Go installed and on PATH?)`)),
    );
    child.on('close', (code) => {
      signal?.removeEventListener('abort', stop);
      if (signal?.aborted) reject(signal.reason);
      else if (code === 0) resolve(stdout);
      else {
        const tail = stderr.trim().split('\n').slice(-15).join('\n');
        reject(
          new Error(`${cmd} ${args.slice(0, 2).join(' ')} failed (exit ${code}); see ${logPath}:\n${tail}`),
        );
      }
    });
  });
}
