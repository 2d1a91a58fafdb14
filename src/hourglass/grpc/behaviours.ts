/**
 * How the reference performer server answers tasks (`tutti performer-server --behaviour`): `echo`
 * returns the payload, `delay` echoes after `delayMs`, `fail` fails every task with INTERNAL (a
 * task's own failure, which clients must not retry).
 */
export const BEHAVIOURS = ['echo', 'delay', 'fail'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];
