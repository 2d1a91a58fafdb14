/** How the reference performer server answers tasks (`tutti performer-server --behaviour`). */
export const BEHAVIOURS = ['echo', 'delay', 'fail'] as const;
export type Behaviour = (typeof BEHAVIOURS)[number];
