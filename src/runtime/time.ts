/** A Kubernetes MicroTime (RFC 3339 with microseconds), as Lease and events.k8s.io fields need. */
export function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** A Kubernetes Time (RFC 3339, whole seconds), as conditions' lastTransitionTime needs. */
export function metaTime(date = new Date()): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
