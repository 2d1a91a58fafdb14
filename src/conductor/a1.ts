import type { NetworkIntent } from '../apis/intent.nephoran.com/network-intent.js';

/** The policy type conductor's NetworkIntent policies use (the seed's scaling policy type). */
export const A1_POLICY_TYPE = 100;

/**
 * `legacy`: the O-RAN SC A1 mediator's `/A1-P/v2/policytypes/100/policies/{id}` (the seed's
 * default); `standard`: the A1-P v2 `/v2/policies/{id}` resource path.
 */
export type A1PathStyle = 'legacy' | 'standard';

export interface A1ClientOptions {
  /** Base URL, e.g. `http://a1mediator.ricplt:10000` (`--a1-endpoint` or A1_MEDIATOR_URL). */
  endpoint: string;
  pathStyle?: A1PathStyle;
  timeoutMs?: number;
}

/** An A1 mediator that answered with a status other than success. */
export class A1Error extends Error {
  override name = 'A1Error';
  constructor(
    readonly status: number,
    readonly method: string,
    readonly url: string,
    readonly body: string,
  ) {
    super(`A1 ${method} ${url}: HTTP ${status}${body ? `: ${body.slice(0, 200)}` : ''}`);
  }
}

export function a1PolicyId(ni: NetworkIntent): string {
  return `policy-${ni.metadata!.name}`;
}

/** The policy body for an intent: what to scale, to how many, and the network parameters. */
export function a1PolicyFor(ni: NetworkIntent): Record<string, unknown> {
  return {
    intentType: ni.spec.intentType,
    target: ni.spec.target,
    namespace: ni.spec.namespace,
    replicas: ni.spec.replicas,
    ...(ni.spec.source ? { source: ni.spec.source } : {}),
    ...(ni.spec.networkParameters ? { networkParameters: ni.spec.networkParameters } : {}),
  };
}

/** PUTs and DELETEs the A1 policy of each NetworkIntent. */
export class A1PolicyClient {
  private readonly base: string;
  private readonly pathStyle: A1PathStyle;
  private readonly timeoutMs: number;

  constructor(opts: A1ClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.endpoint);
    } catch {
      throw new Error(`--a1-endpoint: "${opts.endpoint}" is not a URL (e.g. http://a1mediator:10000)`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new Error(`--a1-endpoint: "${opts.endpoint}" must be an http or https URL`);
    }
    this.base = url.href.replace(/\/+$/, '');
    this.pathStyle = opts.pathStyle ?? 'legacy';
    this.timeoutMs = opts.timeoutMs ?? 10_000;
  }

  policyUrl(policyId: string): string {
    const id = encodeURIComponent(policyId);
    return this.pathStyle === 'legacy'
      ? `${this.base}/A1-P/v2/policytypes/${A1_POLICY_TYPE}/policies/${id}`
      : `${this.base}/v2/policies/${id}`;
  }

  /** Creates or replaces the intent's policy (PUT is idempotent, so a resync repeats it safely). */
  async putPolicy(ni: NetworkIntent): Promise<void> {
    await this.send('PUT', this.policyUrl(a1PolicyId(ni)), a1PolicyFor(ni));
  }

  /** Deletes the intent's policy; a policy already gone counts as deleted. */
  async deletePolicy(ni: NetworkIntent): Promise<void> {
    try {
      await this.send('DELETE', this.policyUrl(a1PolicyId(ni)));
    } catch (err) {
      if (err instanceof A1Error && err.status === 404) return;
      throw err;
    }
  }

  private async send(method: string, url: string, body?: unknown): Promise<void> {
    const res = await fetch(url, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) throw new A1Error(res.status, method, url, text);
  }
}
