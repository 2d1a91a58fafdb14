#!/usr/bin/env node
// Runs the TypeScript sources directly; container images run the compiled dist/ instead.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
