/**
 * A small client for Prometheus's instant-query HTTP API (`/api/v1/query`): one query, one
 * number, and when there is no number a typed failure saying why — never a silent default.
 */

/** Why a KPI could not be read. */
export type PrometheusFailure =
  | 'unreachable' // connection refused, DNS, reset
  | 'timeout'
  | 'http' // a non-2xx answer
  | 'query' // Prometheus rejected the query (bad PromQL, execution error)
  | 'bad-response' // not Prometheus's JSON
  | 'no-data' // an empty vector: nothing matches the query (yet)
  | 'ambiguous' // several series where one value was expected
  | 'not-a-number'; // NaN or ±Inf, e.g. a quantile with no requests in the window

export class PrometheusError extends Error {
  override name = 'PrometheusError';
  constructor(
    readonly failure: PrometheusFailure,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PrometheusClientOptions {
  /** Per query, the whole response included. */
  timeoutMs?: number;
}

export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

interface QueryResponse {
  status?: string;
  errorType?: string;
  error?: string;
  data?: { resultType?: string; result?: unknown };
}

type Sample = [number, string];

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}

export class PrometheusClient {
  private readonly timeoutMs: number;

  constructor(opts: PrometheusClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS;
  }

  /**
   * Runs an instant query against `endpoint` (the full query URL, as IDO's profiles give it) and
   * returns its single value: a scalar, or a vector of exactly one series.
   */
  async value(endpoint: string, query: string, signal?: AbortSignal): Promise<number> {
    const body = await this.request(endpoint, query, signal);
    const data = body.data;
    let sample: Sample | undefined;
    if (data?.resultType === 'scalar') sample = data.result as Sample;
    else if (data?.resultType === 'vector' && Array.isArray(data.result)) {
      const series = data.result as { metric?: Record<string, string>; value?: Sample }[];
      if (series.length === 0)
        throw new PrometheusError('no-data', `no series matches the query at ${endpoint}`);
      if (series.length > 1)
        throw new PrometheusError(
          'ambiguous',
          `the query returned ${series.length} series (${series
            .slice(0, 3)
            .map((s) => JSON.stringify(s.metric ?? {}))
            .join(', ')}…); expected one`,
        );
      sample = series[0]!.value;
    } else
      throw new PrometheusError(
        'bad-response',
        `${endpoint} answered a ${data?.resultType ?? 'missing'} result; expected a vector or scalar`,
      );
    const v = Number(sample?.[1]);
    if (!Array.isArray(sample) || sample[1] === undefined)
      throw new PrometheusError('bad-response', `${endpoint} answered a sample without a value`);
    if (!Number.isFinite(v))
      throw new PrometheusError(
        'not-a-number',
        `the query evaluated to ${sample[1]} (no traffic in the query's window?)`,
      );
    return v;
  }

  private async request(endpoint: string, query: string, signal?: AbortSignal): Promise<QueryResponse> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const abort = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ query }).toString(),
        signal: abort,
      });
      text = await res.text();
    } catch (err) {
      if (timeout.aborted)
        throw new PrometheusError('timeout', `${endpoint} did not answer within ${this.timeoutMs} ms`, {
          cause: err,
        });
      if (signal?.aborted) throw err;
      throw new PrometheusError('unreachable', `${endpoint} is unreachable: ${describeCause(err)}`, {
        cause: err,
      });
    }
    let body: QueryResponse | undefined;
    try {
      body = JSON.parse(text) as QueryResponse;
    } catch {
      body = undefined;
    }
    if (body?.status === 'error')
      throw new PrometheusError('query', `${endpoint} rejected the query: ${body.errorType}: ${body.error}`);
    if (!res.ok)
      throw new PrometheusError(
        'http',
        `${endpoint} answered HTTP ${res.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
      );
    if (body?.status !== 'success')
      throw new PrometheusError('bad-response', `${endpoint} did not answer Prometheus JSON`);
    return body;
  }
}
