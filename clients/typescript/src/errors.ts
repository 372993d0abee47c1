// Typed errors mapped from jiragate's problem documents (RFC 9457, `application/problem+json`).

export const PROBLEM_BASE = "https://jiragate.dev/problems/";
export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** Base class of every error thrown by this package. */
export class JiragateError extends Error {
  override name = "JiragateError";
}

/** The client lacks its URL or API key. */
export class ConfigurationError extends JiragateError {
  override name = "ConfigurationError";
}

/** The server could not be reached, the connection failed, or the request timed out. */
export class TransportError extends JiragateError {
  override name = "TransportError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ApiErrorInit {
  status: number;
  type?: string | undefined;
  title?: string | undefined;
  detail?: string | undefined;
  extensions?: Record<string, unknown>;
  requestId?: string | undefined;
  retryAfter?: number | undefined;
  body?: string;
}

/**
 * The server answered with an error status. Mirrors the problem document: `status`, `type`
 * (URI), `kind` (its last segment, e.g. `not_found`), `title`, `detail`, `field`, `hint` and
 * the other members in `extensions`.
 */
export class ApiError extends JiragateError {
  override name = "ApiError";
  /** Client-side suggestion used when the server sent no `hint`. */
  static defaultHint: string | undefined = undefined;
  readonly status: number;
  readonly type: string | undefined;
  readonly title: string | undefined;
  readonly detail: string | undefined;
  readonly extensions: Record<string, unknown>;
  readonly requestId: string | undefined;
  /** Seconds to wait, from `Retry-After` (or the problem's `retry_after`). */
  readonly retryAfter: number | undefined;
  readonly body: string;
  readonly field: string | undefined;
  readonly hint: string | undefined;

  constructor(init: ApiErrorInit) {
    super("");
    this.status = init.status;
    this.type = init.type;
    this.title = init.title;
    this.detail = init.detail;
    this.extensions = { ...(init.extensions ?? {}) };
    this.requestId = init.requestId;
    this.retryAfter = init.retryAfter;
    this.body = init.body ?? "";
    const field = this.extensions["field"];
    this.field = typeof field === "string" && field !== "" ? field : undefined;
    const hint = this.extensions["hint"];
    this.hint = typeof hint === "string" && hint !== "" ? hint : this.fallbackHint();
    this.message = this.describe();
  }

  /** The last segment of `type` (`validation`, `not_found`, ...). */
  get kind(): string | undefined {
    return this.type?.startsWith(PROBLEM_BASE) ? this.type.slice(PROBLEM_BASE.length) : undefined;
  }

  protected fallbackHint(): string | undefined {
    return (this.constructor as typeof ApiError).defaultHint;
  }

  private describe(): string {
    const head = this.kind ? `${this.status} ${this.kind}` : `${this.status}`;
    const text = this.detail ?? this.title ?? (this.body.slice(0, 200) || "error");
    return this.hint ? `${head}: ${text} (hint: ${this.hint})` : `${head}: ${text}`;
  }

  protected ext<T extends "string" | "number">(key: string, t: T): (T extends "string" ? string : number) | undefined {
    const v = this.extensions[key];
    return (typeof v === t ? v : undefined) as (T extends "string" ? string : number) | undefined;
  }
}

/** `validation`: the request is not valid; `field` names the culprit. */
export class InvalidRequestError extends ApiError {
  override name = "InvalidRequestError";
}
/** `not_found`: no such connector (or other object) in this organization. */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}
/** `unauthorized`: the API key is missing, unknown or revoked. */
export class AuthenticationError extends ApiError {
  override name = "AuthenticationError";
  static override defaultHint = "check JIRAGATE_API_KEY (or apiKey); keys are shown once when created";
}
/** `forbidden`: the API key lacks a scope (`requiredScope`) or the organization. */
export class PermissionDeniedError extends ApiError {
  override name = "PermissionDeniedError";
  get requiredScope(): string | undefined {
    return this.ext("required_scope", "string");
  }
}
/** `conflict`: already exists, or changed meanwhile. */
export class ConflictError extends ApiError {
  override name = "ConflictError";
}
/** `upstream_error`: Jira answered with an error. */
export class UpstreamError extends ApiError {
  override name = "UpstreamError";
  get upstreamStatus(): number | undefined {
    return this.ext("upstream_status", "number");
  }
  get messages(): unknown {
    return this.extensions["messages"];
  }
}
/** `needs_reauth`: the credential is dead; the user must consent again. */
export class NeedsReauthError extends ApiError {
  override name = "NeedsReauthError";
  static override defaultHint = "reconnect: start a new connect session or replace the credentials";
}
/** `missing_scope`: the connection was not granted an OAuth scope the action needs. */
export class MissingScopeError extends ApiError {
  override name = "MissingScopeError";
  get scope(): string | undefined {
    return this.ext("scope", "string");
  }
  get action(): string | undefined {
    return this.ext("action", "string");
  }
  protected override fallbackHint(): string | undefined {
    const scope = this.extensions["scope"];
    return typeof scope === "string" ? `reconnect with the \`${scope}\` scope granted` : undefined;
  }
}
/** `rate_limited` (or a bare 429): retry after `retryAfter` seconds. */
export class RateLimitedError extends ApiError {
  override name = "RateLimitedError";
}
export class PayloadTooLargeError extends ApiError {
  override name = "PayloadTooLargeError";
}
export class MethodNotAllowedError extends ApiError {
  override name = "MethodNotAllowedError";
}
export class UnsupportedMediaTypeError extends ApiError {
  override name = "UnsupportedMediaTypeError";
}
/** `timeout`: the request took longer than the server allows. */
export class GatewayTimeoutError extends ApiError {
  override name = "GatewayTimeoutError";
}
export class UnavailableError extends ApiError {
  override name = "UnavailableError";
}
export class InternalServerError extends ApiError {
  override name = "InternalServerError";
}

/** Problem kind (last segment of `type`) → error class. */
export const ERROR_TYPES: Readonly<Record<string, typeof ApiError>> = {
  validation: InvalidRequestError,
  not_found: NotFoundError,
  unauthorized: AuthenticationError,
  forbidden: PermissionDeniedError,
  conflict: ConflictError,
  upstream_error: UpstreamError,
  needs_reauth: NeedsReauthError,
  missing_scope: MissingScopeError,
  rate_limited: RateLimitedError,
  payload_too_large: PayloadTooLargeError,
  method_not_allowed: MethodNotAllowedError,
  unsupported_media_type: UnsupportedMediaTypeError,
  timeout: GatewayTimeoutError,
  unavailable: UnavailableError,
  internal: InternalServerError,
};

const BY_STATUS: Readonly<Record<number, typeof ApiError>> = {
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  422: InvalidRequestError,
  429: RateLimitedError,
  500: InternalServerError,
  503: UnavailableError,
};

/** Seconds from a `Retry-After` header (delta-seconds or an HTTP date). */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value == null || value.trim() === "") return undefined;
  const n = Number(value.trim());
  if (Number.isFinite(n)) return Math.max(0, n);
  const when = Date.parse(value);
  return Number.isNaN(when) ? undefined : Math.max(0, (when - Date.now()) / 1000);
}

export function isProblem(res: Response): boolean {
  const ctype = res.headers.get("content-type") ?? "";
  return ctype.split(";")[0]?.trim().toLowerCase() === PROBLEM_CONTENT_TYPE;
}

/** The typed error for an error answer whose body has been read as `text`. */
export function errorFromResponse(res: Response, text: string): ApiError {
  let doc: Record<string, unknown> = {};
  if (text) {
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        doc = parsed as Record<string, unknown>;
      }
    } catch {
      // not JSON: keep the text in `body`
    }
  }
  const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
  const type = str(doc["type"]);
  let Cls: typeof ApiError = ApiError;
  if (type?.startsWith(PROBLEM_BASE)) {
    Cls = ERROR_TYPES[type.slice(PROBLEM_BASE.length)] ?? ApiError;
  } else {
    Cls = BY_STATUS[res.status] ?? ApiError;
  }
  const { type: _t, title, status: _s, detail, ...extensions } = doc;
  let retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  if (retryAfter === undefined && typeof extensions["retry_after"] === "number") {
    retryAfter = extensions["retry_after"];
  }
  let message = str(detail);
  const jiraMessages = doc["errorMessages"];
  if (message === undefined && type === undefined && Array.isArray(jiraMessages) && jiraMessages.length > 0) {
    message = jiraMessages.map(String).join("; ");
  }
  return new Cls({
    status: res.status,
    type,
    title: str(title),
    detail: message,
    extensions,
    requestId: res.headers.get("x-request-id") ?? undefined,
    retryAfter,
    body: text,
  });
}
