// Public types. Request and response shapes come from the server's OpenAPI document
// (src/generated/openapi.ts, produced by `npm run gen:types`). Where that document is too
// loose to be useful, precise types are written here from the server's source and say so.

import type { components } from "./generated/openapi.js";

type Schemas = components["schemas"];

export type ConnectorView = Schemas["ConnectorView"];
export type CheckResponse = Schemas["CheckResponse"];
export type TokenResponse = Schemas["TokenResponse"];
export type OAuthClientView = Schemas["OAuthClientView"];
export type CreateSessionResponse = Schemas["CreateSessionResponse"];
export type SessionView = Schemas["SessionView"];
export type SiteView = Schemas["SiteView"];
export type ApiKeyView = Schemas["ApiKeyView"];
export type CreatedKeyResponse = Schemas["CreatedKeyResponse"];
export type OrganizationView = Schemas["OrganizationView"];
export type WorkspaceView = Schemas["WorkspaceView"];
export type CreateConnectorRequest = Schemas["CreateConnectorRequest"];
export type CredentialsInput = Schemas["CredentialsInput"];
export type ReplicationConfig = Schemas["ReplicationConfig"];
export type ProblemBody = Schemas["ProblemBody"];

/** Who a credential is for (the OpenAPI document types `credential_for` as a plain string). */
export type CredentialFor = "installation" | "user";

/** JSON values. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A JSON Schema object as the catalog sends it. */
export type JsonSchema = { [key: string]: unknown };

/**
 * The answer of `execute`. The OpenAPI document declares `data` as an object, but it is any
 * JSON value: an array for list and paged actions, an object otherwise (see
 * crates/catalog/src/exec.rs); hence this hand-written, generic form.
 */
export interface ExecuteResult<T = unknown> {
  data: T;
  /** Present while there are more pages: pass it back as `params.page_token`. */
  next_page_token?: string | null;
  meta: ExecuteMeta;
}

export interface ExecuteMeta {
  entity?: string;
  action?: string;
  api_type?: string;
  pages?: number;
  items?: number;
  [key: string]: unknown;
}

// `describe` is documented as a free-form object in the OpenAPI document; these types follow
// crates/catalog/src/describe.rs.

export interface ActionScopes {
  classic: string[];
  granular: string[];
}

export interface ActionOperation {
  method: string;
  path: string;
  spec: string;
  operation_id?: string;
  deprecated?: boolean;
  when?: string;
}

export interface ActionDescription {
  action: string;
  description: string;
  read_only: boolean;
  params_schema: JsonSchema;
  example: unknown;
  result: string;
  /** `none`, `offset`, `offset_array`, `next_page_token`, `agile` or `service_desk`. */
  pagination: string;
  operations: ActionOperation[];
  scopes: ActionScopes;
}

export interface EntityDescription {
  entity: string;
  api_type: string;
  actions: ActionDescription[];
}

export interface Description {
  connector_id: string;
  name: string;
  api_type: string;
  action_count: number;
  entities: EntityDescription[];
}
