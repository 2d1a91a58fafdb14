/**
 * Runs benchmarks: `npm run bench -- <module>[/<name>] [bench flags]`, or lists them when no name is
 * given. Each runs in its own process (with --expose-gc, which the memory figures need), one after
 * another so they don't skew each other.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));

function benches(): string[] {
  return readdirSync(benchDir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .flatMap((d) =>
      readdirSync(join(benchDir, d.name))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => `${d.name}/${f.slice(0, -3)}`),
    )
    .sort();
}

const [selector, ...flags] = process.argv.slice(2);
const all = benches();
if (!selector || selector === '--help' || selector === '-h') {
  console.log(
    `Usage: npm run bench -- <module>[/<name>] [flags]\n\nBenchmarks:\n${all.map((b) => `  ${b}`).join('\n')}`,
  );
  process.exit(selector ? 0 : 2);
}
const chosen = all.filter((b) => b === selector || b.startsWith(`${selector}/`));
if (!chosen.length) {
  console.error(`bench: no benchmark matches "${selector}"; choose from: ${all.join(', ')}`);
  process.exit(2);
}
for (const bench of chosen) {
  const file = join(benchDir, `${bench}.ts`);
  console.log(`\n== ${relative(process.cwd(), file)}`);
  const { status } = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', file, ...flags], {
    stdio: 'inherit',
  });
  if (status !== 0) process.exit(status ?? 1);
}
