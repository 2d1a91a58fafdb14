import type { Deployment } from 'kubernetes-types/apps/v1.js';
import type { Service } from 'kubernetes-types/core/v1.js';
import { SITE_NAMESPACE } from '../render.js';
import { boundedName } from './names.js';

/**
 * The provisioning templates an edge ships: what a ProvisioningRequest's `templateName` and
 * `templateVersion` name, and the workloads (a Deployment and a Service per member) its
 * `templateParameters` turn into. One template per bundle kind.
 */

export const TEMPLATE_VERSION = 'v1';
/** Label selecting every workload a ProvisioningRequest created (the controller watches only these). */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'tutti-o2ims';
export const LABEL_EXPECTATION = 'expectation.nephio.org/id';
/** A placeholder workload image, as the seed used; `image` overrides it. */
export const DEFAULT_IMAGE = 'registry.k8s.io/pause:3.10';
/** Seconds a Deployment may take before Kubernetes marks it ProgressDeadlineExceeded (a failure). */
export const DEFAULT_PROGRESS_DEADLINE_SECONDS = 120;

export interface ProvisioningTemplate {
  readonly name: string;
  readonly version: string;
  /** `app.kubernetes.io/component` of the workloads. */
  readonly component: string;
  readonly port: { name: string; port: number; protocol: 'TCP' | 'UDP' };
}

export const TEMPLATES: readonly ProvisioningTemplate[] = [
  {
    name: 'cn-bundle',
    version: TEMPLATE_VERSION,
    component: 'core-network',
    port: { name: 'sbi', port: 80, protocol: 'TCP' },
  },
  {
    name: 'ran-bundle',
    version: TEMPLATE_VERSION,
    component: 'ran-function',
    port: { name: 'f1', port: 38472, protocol: 'TCP' },
  },
  {
    name: 'tn-bundle',
    version: TEMPLATE_VERSION,
    component: 'transport-network',
    port: { name: 'vxlan', port: 4789, protocol: 'UDP' },
  },
];

/** What a template needs; the bundle controller fills it from the bundle's spec. */
export interface TemplateParameters {
  expectationId: string;
  objectInstance: string;
  /** networkSlices, networkFunctions or transportNetworks: one workload each. */
  members: string[];
  /** `latency: {condition: LESS_THAN, value: 1ms}`. */
  targets: Record<string, { condition: string; value: string }>;
  namespace?: string;
  replicas?: number;
  image?: string;
}

export type Workload = Deployment | Service;

/** A template or its parameters cannot be used; `field` names what is wrong. */
export class TemplateError extends Error {
  override name = 'TemplateError';
  constructor(
    readonly reason: 'TemplateNotFound' | 'InvalidParameters',
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

export function findTemplate(name: string, version: string): ProvisioningTemplate {
  const byName = TEMPLATES.filter((t) => t.name === name);
  if (byName.length === 0) {
    throw new TemplateError(
      'TemplateNotFound',
      'spec.templateName',
      `no template "${name}"; this edge has ${TEMPLATES.map((t) => t.name).join(', ')}`,
    );
  }
  const t = byName.find((b) => b.version === version);
  if (!t) {
    throw new TemplateError(
      'TemplateNotFound',
      'spec.templateVersion',
      `template ${name} has no version "${version}"; it has ${byName.map((b) => b.version).join(', ')}`,
    );
  }
  return t;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Checks the parameters, naming the first bad field. */
export function validParameters(value: unknown): TemplateParameters {
  const at = (f: string) => `spec.templateParameters.${f}`;
  const bad = (f: string, m: string) => new TemplateError('InvalidParameters', at(f), m);
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new TemplateError('InvalidParameters', 'spec.templateParameters', 'must be an object');
  const p = value as Record<string, unknown>;
  for (const f of ['expectationId', 'objectInstance'] as const) {
    if (typeof p[f] !== 'string' || !DNS_LABEL.test(p[f] as string))
      throw bad(f, 'must be a DNS label (lower-case letters, digits and -)');
  }
  const members = p['members'];
  if (!Array.isArray(members) || members.length === 0) throw bad('members', 'must list at least one member');
  members.forEach((m, i) => {
    if (typeof m !== 'string' || !DNS_LABEL.test(m)) throw bad(`members[${i}]`, 'must be a DNS label');
  });
  const targets = p['targets'] ?? {};
  if (typeof targets !== 'object' || targets === null || Array.isArray(targets))
    throw bad('targets', 'must be an object of {condition, value}');
  for (const [k, t] of Object.entries(targets)) {
    const target = t as Record<string, unknown>;
    if (typeof target?.['condition'] !== 'string' || typeof target['value'] !== 'string')
      throw bad(`targets.${k}`, 'must have string condition and value');
  }
  if (p['namespace'] !== undefined && (typeof p['namespace'] !== 'string' || !DNS_LABEL.test(p['namespace'])))
    throw bad('namespace', 'must be a DNS label');
  if (
    p['replicas'] !== undefined &&
    (!Number.isInteger(p['replicas']) || (p['replicas'] as number) < 0 || (p['replicas'] as number) > 100)
  )
    throw bad('replicas', 'must be a whole number from 0 to 100');
  if (p['image'] !== undefined && (typeof p['image'] !== 'string' || !p['image']))
    throw bad('image', 'must be a non-empty string');
  return p as unknown as TemplateParameters;
}

function envName(attribute: string): string {
  return `TARGET_${attribute.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
}

/**
 * The workloads of one request: per member a Deployment and a Service named
 * `<expectationId>-<member>` in the site namespace, carrying the targets as environment.
 */
export function renderWorkloads(template: ProvisioningTemplate, params: TemplateParameters): Workload[] {
  const namespace = params.namespace ?? SITE_NAMESPACE;
  const env = [
    { name: 'EXPECTATION_ID', value: params.expectationId },
    { name: 'OBJECT_INSTANCE', value: params.objectInstance },
    ...Object.entries(params.targets)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, t]) => ({ name: envName(k), value: `${t.condition} ${t.value}` })),
  ];
  const out: Workload[] = [];
  for (const member of params.members) {
    const name = boundedName(`${params.expectationId}-${member}`);
    const labels = {
      'app.kubernetes.io/name': member,
      'app.kubernetes.io/instance': name,
      'app.kubernetes.io/component': template.component,
      [LABEL_MANAGED_BY]: MANAGED_BY,
      [LABEL_EXPECTATION]: params.expectationId,
    };
    const selector = { 'app.kubernetes.io/instance': name };
    out.push({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels },
      spec: {
        replicas: params.replicas ?? 1,
        progressDeadlineSeconds: DEFAULT_PROGRESS_DEADLINE_SECONDS,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: {
            containers: [
              {
                name: member,
                image: params.image ?? DEFAULT_IMAGE,
                env: [...env, { name: 'MEMBER', value: member }],
                ports: [
                  {
                    name: template.port.name,
                    containerPort: template.port.port,
                    protocol: template.port.protocol,
                  },
                ],
              },
            ],
          },
        },
      },
    });
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels },
      spec: {
        selector,
        ports: [
          {
            name: template.port.name,
            port: template.port.port,
            targetPort: template.port.name,
            protocol: template.port.protocol,
          },
        ],
      },
    });
  }
  return out;
}

export type WorkloadState = { ready: true } | { ready: false; failed?: string; waiting: string };

/** Whether a workload is Ready, still coming up (and why), or failed (and why). */
export function workloadState(w: Workload): WorkloadState {
  const name = `${w.kind} ${w.metadata?.namespace}/${w.metadata?.name}`;
  if (w.kind === 'Service') {
    return (w as Service).spec?.clusterIP
      ? { ready: true }
      : { ready: false, waiting: `${name} has no cluster IP yet` };
  }
  const d = w as Deployment;
  const want = d.spec?.replicas ?? 1;
  const s = d.status ?? {};
  const progressing = s.conditions?.find((c) => c.type === 'Progressing');
  if (progressing?.status === 'False')
    return {
      ready: false,
      failed: `${name}: ${progressing.reason}: ${progressing.message ?? ''}`.trim(),
      waiting: '',
    };
  const replicaFailure = s.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
  if (replicaFailure)
    return {
      ready: false,
      failed: `${name}: ${replicaFailure.reason}: ${replicaFailure.message ?? ''}`,
      waiting: '',
    };
  if ((s.observedGeneration ?? 0) < (d.metadata?.generation ?? 1))
    return { ready: false, waiting: `${name} is not observed yet` };
  if ((s.updatedReplicas ?? 0) < want || (s.availableReplicas ?? 0) < want || (s.replicas ?? 0) > want)
    return { ready: false, waiting: `${name} has ${s.availableReplicas ?? 0}/${want} available replicas` };
  return { ready: true };
}
