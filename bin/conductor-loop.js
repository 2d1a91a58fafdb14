#!/usr/bin/env node
// `conductor-loop [flags]` is `tutti conductor-loop [flags]`, under the seed's binary name.
import { register } from 'tsx/esm/api';

register();
process.argv.splice(2, 0, 'conductor-loop');
await import('../src/cli/main.ts');
