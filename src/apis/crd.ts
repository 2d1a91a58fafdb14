import type {
  CustomResourceColumnDefinition,
  CustomResourceDefinition,
  JSONSchemaProps,
} from 'kubernetes-types/apiextensions/v1.js';
import { stringify } from 'yaml';

/** What differs between Tutti's CRDs; everything else (one served storage version, status subresource) is shared. */
export interface CrdDefinition {
  group: string;
  version: string;
  kind: string;
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortNames?: string[];
  categories?: string[];
  description?: string;
  spec: JSONSchemaProps;
  status: JSONSchemaProps;
  printerColumns: CustomResourceColumnDefinition[];
  /**
   * What a name must look like. A schema for `metadata.name` (the one metadata field a CRD may
   * constrain) rather than a CEL rule on the root: a root rule is evaluated on every write,
   * status updates included, and costs the API server more than the rest of the validation.
   */
  name?: { pattern: string; maxLength: number };
}

/** The printer column every CRD ends with. */
export const ageColumn: CustomResourceColumnDefinition = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
};

export function customResourceDefinition(d: CrdDefinition): CustomResourceDefinition {
  const root: JSONSchemaProps = {
    type: 'object',
    ...(d.description ? { description: d.description } : {}),
    required: ['spec'],
    properties: {
      apiVersion: { type: 'string' },
      kind: { type: 'string' },
      metadata: d.name
        ? { type: 'object', properties: { name: { type: 'string', ...d.name } } }
        : { type: 'object' },
      spec: d.spec,
      status: d.status,
    },
  };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${d.plural}.${d.group}` },
    spec: {
      group: d.group,
      scope: d.scope,
      names: {
        kind: d.kind,
        listKind: `${d.kind}List`,
        plural: d.plural,
        singular: d.kind.toLowerCase(),
        ...(d.shortNames ? { shortNames: d.shortNames } : {}),
        ...(d.categories ? { categories: d.categories } : {}),
      },
      versions: [
        {
          name: d.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: d.printerColumns,
          schema: { openAPIV3Schema: root },
        },
      ],
    },
  };
}

/** kubebuilder's file name for a CRD: `<group>_<plural>.yaml`. */
export function crdFileName(crd: CustomResourceDefinition): string {
  return `${crd.spec.group}_${crd.spec.names.plural}.yaml`;
}

/** The YAML of config/crd, one file per CRD, without anchors (shared sub-schemas are written out). */
export function crdFiles(crds: CustomResourceDefinition[]): Map<string, string> {
  return new Map(
    crds.map((crd) => [crdFileName(crd), stringify(crd, { lineWidth: 0, aliasDuplicateObjects: false })]),
  );
}
