import { readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { parse } from 'yaml';
import { parseObjects, readTree, type SourcedObject } from './conform.js';

/** The names kustomize accepts for a kustomization, in the order it looks for them. */
const KUSTOMIZATION_NAMES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];
/** The only kustomization fields the edge sync understands; anything more is Flux's job. */
const SUPPORTED_FIELDS = new Set(['apiVersion', 'kind', 'resources']);

/**
 * The objects a sync applies from `dir` of a checked-out repository: the resources its
 * kustomization lists (files, or directories holding a kustomization of their own, as kustomize
 * bases), or every YAML file under it. Every path in an error or an object's `file` is the path
 * inside the repository, never the checkout's place on this machine.
 */
export async function readSource(checkout: string, dir: string): Promise<SourcedObject[]> {
  const base = repoPath(posix.normalize(`/${dir}`).slice(1));
  const reader = new SourceReader(checkout, base);
  if (!(await reader.isDirectory(base))) throw new Error(`--dir ${dir} is not a directory of the repository`);
  if (await reader.kustomizationIn(base)) return reader.kustomize(base, []);
  return (await readTree(join(checkout, base))).map((s) => ({ ...s, file: posix.join(base, s.file) }));
}

/** A path inside the repository without `./` or a trailing `/`: '' is the whole repository. */
function repoPath(p: string): string {
  const clean = posix.normalize(p).replace(/\/+$/, '');
  return clean === '.' ? '' : clean;
}

class SourceReader {
  constructor(
    private readonly checkout: string,
    /** Resources must stay inside this directory of the repository. */
    private readonly root: string,
  ) {}

  async isDirectory(path: string): Promise<boolean> {
    return stat(join(this.checkout, path)).then(
      (st) => st.isDirectory(),
      () => false,
    );
  }

  /** The kustomization file's name in `dir`, if it has one. */
  async kustomizationIn(dir: string): Promise<string | undefined> {
    const names = new Set(await readdir(join(this.checkout, dir)).catch(() => []));
    return KUSTOMIZATION_NAMES.find((n) => names.has(n));
  }

  /** The objects of the kustomization in `dir`; `parents` are the kustomizations that include it. */
  async kustomize(dir: string, parents: readonly string[]): Promise<SourcedObject[]> {
    const file = posix.join(dir, (await this.kustomizationIn(dir))!);
    if (parents.includes(dir))
      throw new Error(`${file}: includes itself through ${[...parents, dir].join(' → ')}`);
    let k: unknown;
    try {
      k = parse(await readFile(join(this.checkout, file), 'utf8'));
    } catch (err) {
      throw new Error(`${file}: ${(err as Error).message}`);
    }
    if (typeof k !== 'object' || k === null || Array.isArray(k))
      throw new Error(`${file}: is not a kustomization (a YAML mapping with resources)`);
    const extra = Object.keys(k).filter((key) => !SUPPORTED_FIELDS.has(key));
    if (extra.length)
      throw new Error(`${file} uses ${extra.join(', ')}; only resources are supported (use Flux for more)`);
    const resources = (k as { resources?: unknown }).resources ?? [];
    if (!Array.isArray(resources) || resources.some((r) => typeof r !== 'string'))
      throw new Error(`${file}: resources must be a list of paths`);

    const out: SourcedObject[] = [];
    for (const r of resources as string[]) {
      const path = repoPath(posix.join(dir, r));
      const inside =
        this.root === ''
          ? path !== '..' && !path.startsWith('../')
          : path === this.root || path.startsWith(`${this.root}/`);
      if (posix.isAbsolute(r) || /^[a-z][\w+.-]*:/i.test(r) || !inside)
        throw new Error(
          `${file}: resource ${r} is outside ${this.root ? `--dir ${this.root}` : 'the repository'}`,
        );
      const st = await stat(join(this.checkout, path)).catch(() => undefined);
      if (!st) throw new Error(`${file} lists ${r}, but the repository has no ${path}`);
      if (st.isDirectory()) {
        if (!(await this.kustomizationIn(path)))
          throw new Error(
            `${file} lists the directory ${r}, which has no kustomization.yaml; a directory resource must be a kustomize base`,
          );
        out.push(...(await this.kustomize(path, [...parents, dir])));
      } else out.push(...parseObjects(await readFile(join(this.checkout, path), 'utf8'), path));
    }
    return out;
  }
}
