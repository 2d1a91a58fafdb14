import type { ExpectationType, ObjectType, TargetCondition } from '../apis/nephio/bundles.js';

/** 3GPP TS 28.312 IntentExpectation, as Tutti renders it: one target per expectation. */
export interface IntentExpectation {
  intentExpectationId: string;
  intentExpectationType: ExpectationType;
  intentExpectationContext: ExpectationContext[];
  intentExpectationTarget: ExpectationTarget;
  intentExpectationObject: ExpectationObject;
  /** The TMF921 intent this expectation came from, when it had an id. */
  intentId?: string;
  /** What the bundle applies to: slices (CN), network functions (RAN), transport networks (TN). */
  members: string[];
}

export type ContextCondition = 'EQUAL' | 'ONE_OF';

export interface ExpectationContext {
  contextAttribute: string;
  contextCondition: ContextCondition;
  contextValueRange: string[];
}

export interface ExpectationTarget {
  targetAttribute: string;
  targetCondition: TargetCondition;
  /** In the attribute's canonical unit: `1ms`, `1000Mbps`, `99.999%`. */
  targetValue: string;
}

export interface ExpectationObject {
  objectType: ObjectType;
  objectInstance: string;
}
