/** A Kubernetes `Status` object, as the API server returns it with every error. */
export interface StatusBody {
  kind?: 'Status';
  status?: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

export interface FieldCause {
  readonly field: string;
  readonly reason: string;
  readonly message: string;
}

/** Any error the API server answered with; the subclasses name the reasons callers act on. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly status: StatusBody,
    readonly request: { method: string; path: string },
  ) {
    super(message);
  }
}

export class BadRequestError extends ApiError {
  override name = 'BadRequestError';
}
export class UnauthorizedError extends ApiError {
  override name = 'UnauthorizedError';
}
export class ForbiddenError extends ApiError {
  override name = 'ForbiddenError';
}
export class NotFoundError extends ApiError {
  override name = 'NotFoundError';
}
export class AlreadyExistsError extends ApiError {
  override name = 'AlreadyExistsError';
}
export class ConflictError extends ApiError {
  override name = 'ConflictError';
}
/** 410: the resourceVersion asked for has been compacted away; a watcher must relist. */
export class GoneError extends ApiError {
  override name = 'GoneError';
}
/** 422, with every rejected field. */
export class InvalidError extends ApiError {
  override name = 'InvalidError';
  get causes(): FieldCause[] {
    return (this.status.details?.causes ?? []).map((c) => ({
      field: c.field ?? '',
      reason: c.reason ?? '',
      message: c.message ?? '',
    }));
  }
}
export class TooManyRequestsError extends ApiError {
  override name = 'TooManyRequestsError';
  get retryAfterSeconds(): number | undefined {
    return this.status.details?.retryAfterSeconds;
  }
}
/** 5xx answers, and failures to reach the server at all (code 0). */
export class UnavailableError extends ApiError {
  override name = 'UnavailableError';
}

export function apiErrorFrom(
  httpStatus: number,
  body: StatusBody | undefined,
  request: { method: string; path: string },
): ApiError {
  const status: StatusBody = body && typeof body === 'object' ? body : {};
  const reason = status.reason ?? '';
  const message = status.message || `${request.method} ${request.path}: HTTP ${httpStatus}`;
  const args = [httpStatus, reason, message, status, request] as const;
  switch (httpStatus) {
    case 400:
      return new BadRequestError(...args);
    case 401:
      return new UnauthorizedError(...args);
    case 403:
      return new ForbiddenError(...args);
    case 404:
      return new NotFoundError(...args);
    case 409:
      return reason === 'AlreadyExists' ? new AlreadyExistsError(...args) : new ConflictError(...args);
    case 410:
      return new GoneError(...args);
    case 422:
      return new InvalidError(...args);
    case 429:
      return new TooManyRequestsError(...args);
    default:
      return httpStatus >= 500 ? new UnavailableError(...args) : new ApiError(...args);
  }
}

export function connectionError(err: Error, request: { method: string; path: string }): UnavailableError {
  return new UnavailableError(
    0,
    'ServiceUnavailable',
    `${request.method} ${request.path}: cannot reach the API server: ${err.message}`,
    {},
    request,
  );
}

/** A request made, or still under way, after its client was closed: it is not sent (again). */
export class ClientClosedError extends Error {
  override name = 'ClientClosedError';
}

/** A TLS handshake with the API server that failed: its certificate, or TLS itself. */
export class TlsError extends UnavailableError {
  override name = 'TlsError';
  constructor(
    message: string,
    request: { method: string; path: string },
    /** Node's (OpenSSL's) code: `SELF_SIGNED_CERT_IN_CHAIN`, `ERR_TLS_CERT_ALTNAME_INVALID`, … */
    readonly tlsCode: string,
  ) {
    super(0, 'ServiceUnavailable', message, {}, request);
  }
}

/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
]);
const OUT_OF_DATE = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);

/**
 * `err` as a TlsError naming the server, what failed and what to check, when it is a TLS failure;
 * undefined for any other error. `kubeconfig` is the file the connection came from, when known.
 */
export function tlsError(
  err: NodeJS.ErrnoException,
  request: { method: string; path: string },
  server: URL,
  kubeconfig?: string,
): TlsError | undefined {
  const code = err.code ?? '';
  const at = `${request.method} ${request.path}: the API server ${server.href.replace(/\/$/, '')}`;
  const file = kubeconfig ? `the kubeconfig ${kubeconfig}` : 'the kubeconfig';
  const why = `${err.message} (${code})`;
  let message: string;
  if (UNTRUSTED.has(code))
    message =
      `${at} presented a certificate signed by an authority we do not trust: ${why}; check the ` +
      `cluster's certificate-authority or certificate-authority-data in ${file}, and that its server is the API server meant`;
  else if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    message =
      `${at} presented a certificate that is not valid for the name it was reached by: ${why}; check the ` +
      `cluster's server (or its tls-server-name) in ${file} against the names in the API server's certificate`;
  else if (OUT_OF_DATE.has(code))
    message =
      `${at} presented a certificate outside its validity period: ${why}; check this machine's clock, ` +
      "or renew the API server's certificate";
  else if (code.startsWith('ERR_SSL_') || code === 'EPROTO')
    message = `${at} did not complete a TLS handshake: ${why}; check that the cluster's server in ${file} is the API server's https address`;
  else return undefined;
  return new TlsError(message, request, code);
}

/** Errors worth trying again: the server was unreachable, overloaded or failing. */
export function isRetryable(err: unknown): boolean {
  return err instanceof UnavailableError || err instanceof TooManyRequestsError;
}

/**
 * A 410 whose reason is `Expired`: the resourceVersion a continue token or list names has been
 * compacted away. client-go's `IsResourceExpired`.
 */
export const isResourceExpired = (err: unknown): err is GoneError =>
  err instanceof GoneError && err.reason === 'Expired';

export const isNotFound = (err: unknown): err is NotFoundError => err instanceof NotFoundError;
export const isAlreadyExists = (err: unknown): err is AlreadyExistsError => err instanceof AlreadyExistsError;
export const isConflict = (err: unknown): err is ConflictError => err instanceof ConflictError;
/** A create refused because its namespace is being deleted; everything in it is about to go. */
export const isNamespaceTerminating = (err: unknown): err is ForbiddenError =>
  err instanceof ForbiddenError &&
  (err.status.details?.causes ?? []).some((c) => c.reason === 'NamespaceTerminating');
