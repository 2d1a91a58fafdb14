/**
 * Where the API server's CPU went in Go CPU profiles (from `bench/hourglass/scale.ts --pprof`), per
 * object: each sample is put under the first path below its stack matches, and the columns are
 * milliseconds per object, so that profiles of rounds that made different objects compare.
 *   node --import tsx bench/apiserver-profile.ts <profile.pb.gz>=<objects> […]
 * Needs `go` on the PATH (go tool pprof).
 */
import { execFileSync } from 'node:child_process';
import { basename } from 'node:path';

/** Paths through the API server, first match wins; `a+b` needs both frames on the stack. */
const PATHS: readonly (readonly [string, readonly string[]])[] = [
  ['Go garbage collector', ['gcBgMarkWorker', 'runtime.gcAssist', 'bgsweep', 'bgscavenge']],
  ['watch: custom resources', ['handleWatch+Unstructured', 'handleWatch+apiextensions']],
  ['watch: built-in kinds', ['handleWatch']],
  ['watch cache', ['cacher.(*Cacher)', 'cacher.(*watchCache)', 'cacheWatcher']],
  ['etcd watch, decoding', ['etcd3.(*watchChan)', 'etcd3.(*watcher)']],
  ['custom resource create', ['crdHandler+CreateResource']],
  ['custom resource update', ['crdHandler+UpdateResource']],
  ['custom resource patch', ['crdHandler+PatchResource']],
  ['custom resource get/list', ['crdHandler+GetResource', 'crdHandler+ListResource']],
  ['custom resource, other', ['crdHandler']],
  ['create', ['CreateResource']],
  ['update', ['UpdateResource']],
  ['patch', ['PatchResource']],
  ['get/list', ['GetResource', 'ListResource']],
  ['request filters (authn, authz, audit…)', ['finishRequest', 'withAuthentication']],
  ['HTTP and TLS', ['net/http', 'crypto/tls', 'http2']],
  ['etcd client', ['go.etcd.io']],
];

/** Seconds of CPU per path in one profile. */
function byPath(file: string): Map<string, number> {
  const raw = execFileSync('go', ['tool', 'pprof', '-raw', file], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const samples: { ns: number; locations: number[] }[] = [];
  const functions = new Map<number, string[]>();
  let section = '';
  let location = 0;
  for (const line of raw.split('\n')) {
    if (/^(Samples|Locations|Mappings):?/.test(line)) section = line.slice(0, 4);
    else if (section === 'Samp') {
      const m = /^\s+\d+\s+(\d+):\s+(.*)$/.exec(line);
      if (m) samples.push({ ns: Number(m[1]), locations: m[2]!.trim().split(/\s+/).map(Number) });
    } else if (section === 'Loca') {
      const m = /^\s+(\d+):\s+0x[0-9a-f]+\s+M=\d+\s+(\S+)/.exec(line);
      if (m) {
        location = Number(m[1]);
        functions.set(location, [m[2]!]);
      } else if (/^\s{10,}\S/.test(line)) functions.get(location)?.push(line.trim().split(/\s+/)[0]!);
    }
  }
  const seconds = new Map<string, number>();
  for (const { ns, locations } of samples) {
    const stack = locations.flatMap((l) => functions.get(l) ?? []).join('\n');
    const path =
      PATHS.find(([, patterns]) => patterns.some((p) => p.split('+').every((f) => stack.includes(f))))?.[0] ??
      'other';
    seconds.set(path, (seconds.get(path) ?? 0) + ns / 1e9);
  }
  return seconds;
}

const inputs = process.argv.slice(2).map((arg) => {
  const at = arg.lastIndexOf('=');
  const objects = Number(arg.slice(at + 1));
  if (at < 0 || !(objects > 0)) throw new Error(`${arg}: expected <profile.pb.gz>=<objects made in it>`);
  return { file: arg.slice(0, at), objects };
});
if (inputs.length === 0) {
  console.error('usage: bench/apiserver-profile.ts <profile.pb.gz>=<objects> […]');
  process.exit(2);
}
const columns = inputs.map(({ file, objects }) => ({
  name: basename(file, '.pb.gz'),
  objects,
  s: byPath(file),
}));
const paths = [...new Set(columns.flatMap((c) => [...c.s.keys()]))].sort(
  (a, b) => (columns.at(-1)!.s.get(b) ?? 0) - (columns.at(-1)!.s.get(a) ?? 0),
);
const width = Math.max(...columns.map((c) => c.name.length), 10);
const row = (label: string, cells: string[]) =>
  console.log(label.padEnd(40) + cells.map((c) => c.padStart(width + 2)).join(''));
row(
  'API server CPU, ms per object',
  columns.map((c) => c.name),
);
for (const path of paths)
  row(
    path,
    columns.map((c) => (((c.s.get(path) ?? 0) / c.objects) * 1000).toFixed(2)),
  );
row(
  'total',
  columns.map((c) => (([...c.s.values()].reduce((a, b) => a + b, 0) / c.objects) * 1000).toFixed(2)),
);
