import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { CustomResourceDefinition, JSONSchemaProps } from 'kubernetes-types/apiextensions/v1.js';
import { parseAllDocuments } from 'yaml';
import type { KubeClient } from '../runtime/client/client.js';
import { ApiError, InvalidError } from '../runtime/client/errors.js';
import type { KubeObject } from '../runtime/client/types.js';
import { ajvProblem } from './expectation-schema.js';
import { isMissingNamespace, KindNotServedError, servedKind } from './served-kind.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** One object read from a rendered tree, with where it came from. */
export interface SourcedObject {
  readonly file: string;
  readonly index: number;
  readonly object: KubeObject;
}

export interface Violation {
  /** `apps/intent/cn_capacity.yaml#2 CNBundle intent-to-krm/cn-bundle-cn-cap-001`. */
  readonly object: string;
  readonly field: string;
  readonly message: string;
}

/** Files a repository holds that are not objects to apply. */
const NOT_OBJECTS = new Set(['kustomization.yaml', 'Kptfile']);

/** The objects of a tree, and every YAML document in it that could not be parsed. */
export interface TreeContents {
  readonly objects: SourcedObject[];
  readonly unreadable: Violation[];
}

/** Every object in the YAML files under `dir`, in path order; documents that do not parse are listed, not fatal. */
export async function scanTree(dir: string): Promise<TreeContents> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  const files = entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name) && !NOT_OBJECTS.has(e.name))
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .filter((f) => !f.split('/').some((part) => part.startsWith('.')))
    .sort();
  const objects: SourcedObject[] = [];
  const unreadable: Violation[] = [];
  for (const file of files) {
    const read = scanObjects(await readFile(join(dir, file), 'utf8'), file);
    objects.push(...read.objects);
    unreadable.push(...read.unreadable);
  }
  return { objects, unreadable };
}

/** Every object in the YAML files under `dir`, in path order; throws at a document that does not parse. */
export async function readTree(dir: string): Promise<SourcedObject[]> {
  const { objects, unreadable } = await scanTree(dir);
  const first = unreadable[0];
  if (first) throw new Error(`${first.object.replace(/#\d+$/, '')}: ${first.message}`);
  return objects;
}

/** The objects of one YAML file, and each of its documents that does not parse. */
export function scanObjects(text: string, file: string): TreeContents {
  const objects: SourcedObject[] = [];
  const unreadable: Violation[] = [];
  parseAllDocuments(text).forEach((doc, index) => {
    if (doc.errors.length) {
      // The parser's first line says what and where; the rest quotes the text, over several lines.
      unreadable.push({
        object: `${file}#${index + 1}`,
        field: '(document)',
        message: doc.errors[0]!.message.split('\n')[0]!,
      });
      return;
    }
    const object = doc.toJS() as KubeObject | null;
    if (object !== null) objects.push({ file, index, object });
  });
  return { objects, unreadable };
}

export function parseObjects(text: string, file: string): SourcedObject[] {
  const { objects, unreadable } = scanObjects(text, file);
  if (unreadable[0]) throw new Error(`${file}: ${unreadable[0].message}`);
  return objects;
}

export function describeObject(s: SourcedObject): string {
  const m = s.object.metadata;
  const name = m?.namespace ? `${m.namespace}/${m.name}` : (m?.name ?? '(no name)');
  return `${s.file}#${s.index + 1} ${s.object.kind ?? '(no kind)'} ${name}`;
}

/**
 * Kubernetes drops fields a structural schema does not name; for an offline check that is an
 * error, so every object schema without preserve-unknown-fields is closed.
 */
function closeSchema(schema: JSONSchemaProps): Record<string, unknown> {
  const s = { ...schema } as Record<string, unknown>;
  if (s['properties']) {
    const props: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(schema.properties ?? {})) {
      props[k] = k === 'metadata' ? { type: 'object' } : closeSchema(v);
    }
    s['properties'] = props;
    if (!s['x-kubernetes-preserve-unknown-fields'] && s['additionalProperties'] === undefined) {
      s['additionalProperties'] = false;
    }
  }
  if (schema.items && !Array.isArray(schema.items)) s['items'] = closeSchema(schema.items as JSONSchemaProps);
  return s;
}

/** Offline validation of objects against CRD schemas (and the basic shape of every object). */
export class SchemaValidator {
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly ajv: Ajv;

  constructor(crds: readonly CustomResourceDefinition[]) {
    this.ajv = new Ajv({ allErrors: true, strict: false });
    addFormats(this.ajv);
    this.ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
    this.ajv.addFormat('int32', { type: 'number', validate: Number.isInteger });
    for (const crd of crds) {
      for (const v of crd.spec.versions) {
        const schema = v.schema?.openAPIV3Schema;
        if (!schema) continue;
        const key = `${crd.spec.group}/${v.name}/${crd.spec.names.kind}`;
        this.validators.set(key, this.ajv.compile(closeSchema(schema)));
      }
    }
  }

  knows(obj: KubeObject): boolean {
    return this.validators.has(`${obj.apiVersion}/${obj.kind}`);
  }

  validate(s: SourcedObject): Violation[] {
    const obj = s.object;
    const where = describeObject(s);
    if (typeof obj !== 'object' || Array.isArray(obj))
      return [{ object: where, field: '(document)', message: `is ${shapeOf(obj)}, not a Kubernetes object` }];
    const problems: Violation[] = [];
    if (!obj.apiVersion) problems.push({ object: where, field: 'apiVersion', message: 'required' });
    if (!obj.kind) problems.push({ object: where, field: 'kind', message: 'required' });
    if (!obj.metadata?.name) problems.push({ object: where, field: 'metadata.name', message: 'required' });
    const validate = this.validators.get(`${obj.apiVersion}/${obj.kind}`);
    if (validate && !validate(obj)) {
      for (const e of validate.errors ?? []) problems.push({ object: where, ...ajvProblem(e, '') });
    }
    return problems;
  }
}

/** Core kinds a rendered tree may hold besides custom resources. */
const BUILT_IN = new Set([
  'v1/ConfigMap',
  'v1/Namespace',
  'v1/Secret',
  'v1/Service',
  'apiextensions.k8s.io/v1/CustomResourceDefinition',
]);

/** A YAML document that is not a mapping, in words: `a list`, `the string "hello"`. */
function shapeOf(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'string'
    ? `the string ${JSON.stringify(value.slice(0, 40))}`
    : `the ${typeof value} ${String(value)}`;
}

/**
 * Offline checks of every object. A kind that neither the tree's CRDs nor the core kinds above
 * define is a problem, unless `cluster` says the API server will be asked whether it serves it
 * (a Deployment, or a CRD already installed).
 */
export function conformOffline(
  objects: readonly SourcedObject[],
  opts: { cluster?: boolean } = {},
): Violation[] {
  const crds = objects
    .map((s) => s.object)
    .filter((o): o is CustomResourceDefinition & KubeObject => o?.kind === 'CustomResourceDefinition');
  const validator = new SchemaValidator(crds);
  return objects.flatMap((s) => {
    const problems = validator.validate(s);
    if (problems.length && (!s.object?.apiVersion || !s.object.kind)) return problems;
    const key = `${s.object.apiVersion}/${s.object.kind}`;
    if (!opts.cluster && !validator.knows(s.object) && !BUILT_IN.has(key)) {
      problems.push({
        object: describeObject(s),
        field: 'kind',
        message: `no CRD in the tree defines ${key} (give --kubeconfig to ask a cluster)`,
      });
    }
    return problems;
  });
}

export interface ServerConformance {
  readonly problems: Violation[];
  /**
   * Objects the API server could not check because their Namespace or CRD comes with the tree and
   * is not on the cluster yet (a dry-run creates nothing): the offline check is all they get.
   */
  readonly offlineOnly: string[];
}

/**
 * Server-side dry-run of every object: the API server's own validation and admission, plus a
 * check that no field the tree sets was pruned by the schema.
 */
export async function conformWithServer(
  client: KubeClient,
  objects: readonly SourcedObject[],
  opts: {
    /** Objects the offline check already failed: still part of the tree, not sent to the server. */
    readonly skip?: ReadonlySet<SourcedObject>;
  } = {},
): Promise<ServerConformance> {
  const problems: Violation[] = [];
  const offlineOnly: string[] = [];
  const namespaces = new Set(
    objects.filter((s) => s.object.kind === 'Namespace').map((s) => s.object.metadata?.name),
  );
  const crdKinds = new Set(
    objects
      .filter((s) => s.object.kind === 'CustomResourceDefinition')
      .map((s) => {
        const spec = (s.object as CustomResourceDefinition).spec;
        return `${spec.group}/${spec.names.kind}`;
      }),
  );
  for (const s of objects) {
    if (opts.skip?.has(s)) continue;
    const where = describeObject(s);
    const group = s.object.apiVersion?.includes('/') ? s.object.apiVersion.split('/')[0] : '';
    try {
      await servedKind(client, s.object);
    } catch (err) {
      if (!(err instanceof KindNotServedError)) throw err;
      // A dry-run creates nothing: the tree's own CRD is not there to serve its objects yet.
      if (crdKinds.has(`${group}/${s.object.kind}`)) offlineOnly.push(where);
      else
        problems.push({
          object: where,
          field: 'kind',
          message: `${err.message}; no CRD in the tree defines it`,
        });
      continue;
    }
    try {
      const returned = await client.apply(s.object, { dryRun: true });
      for (const field of droppedFields(s.object, returned)) {
        problems.push({
          object: where,
          field,
          message: 'dropped by the API server (the schema does not name it)',
        });
      }
    } catch (err) {
      const ns = s.object.metadata?.namespace;
      if (isMissingNamespace(err, ns) && namespaces.has(ns)) {
        offlineOnly.push(where);
      } else if (err instanceof InvalidError && err.causes.length) {
        for (const c of err.causes) problems.push({ object: where, field: c.field, message: c.message });
      } else if (err instanceof ApiError) {
        // Server-side apply names an undeclared field only inside its message.
        const m = /: \.([\w.[\]-]+): (field not declared in schema.*)$/.exec(err.message);
        problems.push({ object: where, field: m?.[1] ?? '(object)', message: m?.[2] ?? err.message });
      } else throw err;
    }
  }
  return { problems, offlineOnly };
}

/** Paths set in `sent` (outside metadata and status) that `returned` lacks. */
export function droppedFields(sent: unknown, returned: unknown, path = ''): string[] {
  if (typeof sent !== 'object' || sent === null) return [];
  if (typeof returned !== 'object' || returned === null) return [path.slice(1) || '(root)'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(sent)) {
    if (path === '' && (k === 'metadata' || k === 'status')) continue;
    const sub = Array.isArray(sent) ? `${path}[${k}]` : `${path}.${k}`;
    if (!(k in returned)) out.push(sub.replace(/^\./, ''));
    else out.push(...droppedFields(v, (returned as Record<string, unknown>)[k], sub));
  }
  return out;
}
