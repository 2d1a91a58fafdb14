import { fitLinear, type LinearFit } from './linear-fit.js';

/** One observation: the load on the workload, how it was provisioned, and the latency seen. */
export interface LatencySample {
  throughput: number;
  replicas: number;
  /** Millicores requested per pod (0 when unset). */
  cpu: number;
  latency: number;
}

/** A pod without a CPU request is counted as one core. */
const UNSET_CPU_MILLIS = 1000;

/** The load each requested core carries: what latency is fitted against. */
export function loadPerCore(throughput: number, replicas: number, cpuMillis: number): number {
  return throughput / (Math.max(replicas, 1) * ((cpuMillis || UNSET_CPU_MILLIS) / 1000));
}

/** Fewest samples (with distinct loads) before a fitted line is trusted over the prior. */
export const MIN_SAMPLES = 5;

/**
 * Latency as a line of load per core, fitted on traced history: one model serves scaling out
 * (more replicas) and scaling up (more CPU). Until there are MIN_SAMPLES the actuators fall back
 * to the prior — latency inversely proportional to capacity — and take single small steps.
 */
export class LatencyModel {
  private constructor(readonly fit: LinearFit) {}

  static fromSamples(samples: readonly LatencySample[]): LatencyModel | undefined {
    const usable = samples.filter(
      (s) => Number.isFinite(s.latency) && Number.isFinite(s.throughput) && s.throughput >= 0,
    );
    if (usable.length < MIN_SAMPLES) return undefined;
    const fit = fitLinear(
      usable.map((s) => loadPerCore(s.throughput, s.replicas, s.cpu)),
      usable.map((s) => s.latency),
    );
    // A line where latency falls as load rises has learnt noise, not the workload.
    return fit && fit.slope > 0 ? new LatencyModel(fit) : undefined;
  }

  static fromFit(fit: LinearFit): LatencyModel {
    return new LatencyModel(fit);
  }

  predict(throughput: number, replicas: number, cpuMillis: number): number {
    return Math.max(0, this.fit.intercept + this.fit.slope * loadPerCore(throughput, replicas, cpuMillis));
  }
}

/** The prior: latency scales with the inverse of capacity (replicas × CPU). */
export function proportionalLatency(
  latency: number,
  from: { replicas: number; cpu: number },
  to: { replicas: number; cpu: number },
): number {
  const capacity = (r: number, c: number) => Math.max(r, 1) * (c || UNSET_CPU_MILLIS);
  return (latency * capacity(from.replicas, from.cpu)) / capacity(to.replicas, to.cpu);
}
