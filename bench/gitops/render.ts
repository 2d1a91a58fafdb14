/**
 * Render time per expectation for 1,000 expectations, beside serialising the same objects to YAML
 * alone (the floor: render = build objects + serialise + build the tree).
 *
 *   node --import tsx bench/gitops/render.ts
 */
import { performance } from 'node:perf_hooks';
import type { IntentExpectation } from '../../src/gitops/expectation.js';
import { renderExpectation, renderTree, toYaml } from '../../src/gitops/render.js';
import { REQUIREMENTS, translateIntent } from '../../src/gitops/translate.js';

const COUNT = 1000;
const ROUNDS = 20;

function expectations(): IntentExpectation[] {
  const out: IntentExpectation[] = [];
  for (let i = 0; out.length < COUNT; i++) {
    const m = REQUIREMENTS[i % REQUIREMENTS.length]!;
    const value =
      m.dimension === 'count'
        ? String(100 + i)
        : m.dimension === 'percent'
          ? '<50%'
          : m.dimension === 'time'
            ? '<5ms'
            : '>100Mbps';
    out.push(
      ...translateIntent({ id: `intent-${i}`, intent: `bench ${i}`, requirements: { [m.attribute]: value } }),
    );
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const input = expectations();
const objects = input.flatMap(renderExpectation);
const renderTimes: number[] = [];
const yamlTimes: number[] = [];
for (let r = 0; r < ROUNDS + 3; r++) {
  let t = performance.now();
  renderTree(input);
  const render = performance.now() - t;
  t = performance.now();
  toYaml(objects);
  const yaml = performance.now() - t;
  if (r >= 3) {
    renderTimes.push(render);
    yamlTimes.push(yaml);
  }
}
const perRender = (median(renderTimes) * 1000) / COUNT;
const perYaml = (median(yamlTimes) * 1000) / COUNT;
console.log(`gitops render, ${COUNT} expectations (${objects.length} objects), median of ${ROUNDS} rounds`);
console.log(`  render:        ${perRender.toFixed(1)} µs/expectation`);
console.log(`  YAML only:     ${perYaml.toFixed(1)} µs/expectation (baseline)`);
console.log(`  ratio:         ${(perRender / perYaml).toFixed(2)}x`);
