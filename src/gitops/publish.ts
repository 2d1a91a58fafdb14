import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GitCredentials, GitError, git } from './git.js';
import type { RenderedTree } from './render.js';
import { writeTree } from './tree.js';

export interface PublishOptions {
  /** The remote, e.g. `https://git.example.com/admin1/edge1-config.git`. */
  readonly repo: string;
  readonly branch?: string;
  readonly credentials?: GitCredentials;
  readonly author?: { name: string; email: string };
  /** Pushes retried after the branch moved under us. */
  readonly attempts?: number;
}

export interface PublishResult {
  /** The commit the branch points at after publishing. */
  readonly commit: string;
  /** False when the tree was already there: nothing was committed or pushed. */
  readonly changed: boolean;
}

export const DEFAULT_BRANCH = 'main';
export const DEFAULT_AUTHOR = { name: 'tutti-gitops', email: 'gitops@tutti.dev' };
/** Attempts when another publisher pushes between our fetch and our push. */
const PUSH_ATTEMPTS = 3;

/** The commit message: a subject, then every expectation id on its own trailer line. */
export function commitMessage(expectationIds: readonly string[]): string {
  const ids = [...expectationIds].sort();
  const subject =
    ids.length === 0
      ? 'intent-to-krm: no expectations'
      : `intent-to-krm: ${ids.length} expectation${ids.length === 1 ? '' : 's'} (${ids.slice(0, 3).join(', ')}${ids.length > 3 ? ', …' : ''})`;
  return [subject, '', ...ids.map((id) => `Expectation-Id: ${id}`)].join('\n');
}

/**
 * Commits the rendered tree onto the branch of a remote and pushes it. Only the paths render owns
 * change; a tree identical to the branch's makes no commit.
 */
export async function publishTree(
  tree: RenderedTree,
  expectationIds: readonly string[],
  opts: PublishOptions,
): Promise<PublishResult> {
  return publishRendered(async () => ({ tree, expectationIds }), opts);
}

/** A tree to publish and the expectation ids its commit message names. */
export interface Rendering {
  readonly tree: RenderedTree;
  readonly expectationIds: readonly string[];
}

/**
 * Like publishTree, with the tree rendered from the branch as checked out (`checkout` holds it, or
 * nothing on a new branch): called again for each push attempt, so what it keeps from the branch
 * is never stale.
 */
export async function publishRendered(
  render: (checkout: string) => Promise<Rendering>,
  opts: PublishOptions,
): Promise<PublishResult> {
  const branch = opts.branch ?? DEFAULT_BRANCH;
  const author = opts.author ?? DEFAULT_AUTHOR;
  const remote = { credentials: opts.credentials, remote: opts.repo };
  const dir = await mkdtemp(join(tmpdir(), 'tutti-publish-'));
  try {
    await git(['init', '--quiet', `--initial-branch=${branch}`, dir]);
    for (let attempt = 1; ; attempt++) {
      const heads = await git(['ls-remote', '--heads', opts.repo, `refs/heads/${branch}`], {
        cwd: dir,
        ...remote,
      });
      if (heads.trim()) {
        await git(['fetch', '--quiet', '--depth=1', opts.repo, `refs/heads/${branch}`], {
          cwd: dir,
          ...remote,
        });
        await git(['checkout', '--quiet', '--force', '-B', branch, 'FETCH_HEAD'], { cwd: dir });
      }
      const { tree, expectationIds } = await render(dir);
      await writeTree(dir, tree);
      await git(['add', '--all', '--', '.'], { cwd: dir });
      const status = await git(['status', '--porcelain'], { cwd: dir });
      if (!status.trim()) return { commit: heads.split('\t')[0]!.trim(), changed: false };
      await commit(dir, author, commitMessage(expectationIds));
      try {
        await git(['push', '--quiet', opts.repo, `HEAD:refs/heads/${branch}`], { cwd: dir, ...remote });
        return { commit: (await git(['rev-parse', 'HEAD'], { cwd: dir })).trim(), changed: true };
      } catch (err) {
        if (
          !(err instanceof GitError) ||
          err.failure !== 'rejected' ||
          attempt >= (opts.attempts ?? PUSH_ATTEMPTS)
        ) {
          throw err;
        }
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function commit(dir: string, author: { name: string; email: string }, message: string): Promise<void> {
  const file = join(dir, '.git', 'TUTTI_COMMIT_MSG');
  await writeFile(file, message);
  await git(
    ['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`, 'commit', '--quiet', '-F', file],
    {
      cwd: dir,
    },
  );
}
