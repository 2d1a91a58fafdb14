import type { CustomResourceDefinition } from 'kubernetes-types/apiextensions/v1.js';
import type { DaemonSet, Deployment, ReplicaSet, StatefulSet } from 'kubernetes-types/apps/v1.js';
import type { SelfSubjectAccessReview, SubjectAccessReview } from 'kubernetes-types/authorization/v1.js';
import type { CronJob, Job } from 'kubernetes-types/batch/v1.js';
import type { Lease } from 'kubernetes-types/coordination/v1.js';
import type {
  ConfigMap,
  Event as CoreEvent,
  Endpoints,
  Namespace,
  Node,
  PersistentVolumeClaim,
  Pod,
  Secret,
  Service,
  ServiceAccount,
} from 'kubernetes-types/core/v1.js';
import type { EndpointSlice } from 'kubernetes-types/discovery/v1.js';
import type { Event } from 'kubernetes-types/events/v1.js';
import type { ClusterRole, ClusterRoleBinding, Role, RoleBinding } from 'kubernetes-types/rbac/v1.js';
import { kind } from './types.js';

// Typed handles for the built-in kinds Tutti works with; custom kinds are declared by their modules.
export const Namespaces = kind<Namespace>('v1', 'Namespace');
export const Nodes = kind<Node>('v1', 'Node');
export const Pods = kind<Pod>('v1', 'Pod');
export const Services = kind<Service>('v1', 'Service');
export const Endpoints_ = kind<Endpoints>('v1', 'Endpoints');
export const ConfigMaps = kind<ConfigMap>('v1', 'ConfigMap');
export const Secrets = kind<Secret>('v1', 'Secret');
export const ServiceAccounts = kind<ServiceAccount>('v1', 'ServiceAccount');
export const PersistentVolumeClaims = kind<PersistentVolumeClaim>('v1', 'PersistentVolumeClaim');
export const CoreEvents = kind<CoreEvent>('v1', 'Event');
export const Deployments = kind<Deployment>('apps/v1', 'Deployment');
export const ReplicaSets = kind<ReplicaSet>('apps/v1', 'ReplicaSet');
export const StatefulSets = kind<StatefulSet>('apps/v1', 'StatefulSet');
export const DaemonSets = kind<DaemonSet>('apps/v1', 'DaemonSet');
export const Jobs = kind<Job>('batch/v1', 'Job');
export const CronJobs = kind<CronJob>('batch/v1', 'CronJob');
export const Leases = kind<Lease>('coordination.k8s.io/v1', 'Lease');
export const Events = kind<Event>('events.k8s.io/v1', 'Event');
export const EndpointSlices = kind<EndpointSlice>('discovery.k8s.io/v1', 'EndpointSlice');
export const Roles = kind<Role>('rbac.authorization.k8s.io/v1', 'Role');
export const RoleBindings = kind<RoleBinding>('rbac.authorization.k8s.io/v1', 'RoleBinding');
export const ClusterRoles = kind<ClusterRole>('rbac.authorization.k8s.io/v1', 'ClusterRole');
export const ClusterRoleBindings = kind<ClusterRoleBinding>(
  'rbac.authorization.k8s.io/v1',
  'ClusterRoleBinding',
);
export const SubjectAccessReviews = kind<SubjectAccessReview>(
  'authorization.k8s.io/v1',
  'SubjectAccessReview',
);
export const SelfSubjectAccessReviews = kind<SelfSubjectAccessReview>(
  'authorization.k8s.io/v1',
  'SelfSubjectAccessReview',
);
export const CustomResourceDefinitions = kind<CustomResourceDefinition>(
  'apiextensions.k8s.io/v1',
  'CustomResourceDefinition',
);
