#!/usr/bin/env python3
"""Generates src/routes_table.rs from the Atlassian OpenAPI documents.

Every operation the simulator implements is listed below once; the path, operationId,
required OAuth scopes and the experimental mark come from the specs, so routing, scope checks,
the experimental opt-in check, per-route stats and the conformance test all share one table.

`experimental` is the operation's `x-experimental` mark. `opt_in_header` is set for
experimental operations of a document that requires the `X-ExperimentalApi: opt-in` request
header for them (the Service Management document says so in its narrative; Jira answers 412
without it). The platform document marks operations experimental but documents no such
header, so there the mark alone changes nothing.

Run from the crate root:
    python3 tools/gen_routes.py /work/shared/specs > src/routes_table.rs
"""
import json, sys

SPECS = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/specs"
OPS = {
    "Platform": ("jira-platform-v3.json", """
GET /rest/api/3/myself
GET /rest/api/3/serverInfo
GET /rest/api/3/project
GET /rest/api/3/project/search
GET /rest/api/3/project/{projectIdOrKey}
GET /rest/api/3/project/{projectIdOrKey}/statuses
GET /rest/api/3/project/{projectIdOrKey}/versions
GET /rest/api/3/project/{projectIdOrKey}/version
POST /rest/api/3/version
GET /rest/api/3/version/{id}
PUT /rest/api/3/version/{id}
POST /rest/api/3/version/{id}/removeAndSwap
GET /rest/api/3/project/{projectIdOrKey}/components
GET /rest/api/3/project/{projectIdOrKey}/component
POST /rest/api/3/component
GET /rest/api/3/component/{id}
PUT /rest/api/3/component/{id}
DELETE /rest/api/3/component/{id}
GET /rest/api/3/issuetype
GET /rest/api/3/issuetype/{id}
GET /rest/api/3/issuetype/project
GET /rest/api/3/field
GET /rest/api/3/field/search
GET /rest/api/3/priority
GET /rest/api/3/priority/{id}
GET /rest/api/3/priority/search
GET /rest/api/3/status
GET /rest/api/3/status/{idOrName}
GET /rest/api/3/statuses/search
GET /rest/api/3/resolution/search
GET /rest/api/3/users/search
GET /rest/api/3/user
GET /rest/api/3/user/search
GET /rest/api/3/user/assignable/search
POST /rest/api/3/issue
POST /rest/api/3/issue/bulk
GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes
GET /rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes/{issueTypeId}
GET /rest/api/3/issue/{issueIdOrKey}
PUT /rest/api/3/issue/{issueIdOrKey}
DELETE /rest/api/3/issue/{issueIdOrKey}
PUT /rest/api/3/issue/{issueIdOrKey}/assignee
GET /rest/api/3/issue/{issueIdOrKey}/changelog
GET /rest/api/3/issue/{issueIdOrKey}/editmeta
GET /rest/api/3/issue/{issueIdOrKey}/transitions
POST /rest/api/3/issue/{issueIdOrKey}/transitions
GET /rest/api/3/issue/{issueIdOrKey}/comment
POST /rest/api/3/issue/{issueIdOrKey}/comment
GET /rest/api/3/issue/{issueIdOrKey}/comment/{id}
PUT /rest/api/3/issue/{issueIdOrKey}/comment/{id}
DELETE /rest/api/3/issue/{issueIdOrKey}/comment/{id}
GET /rest/api/3/issue/{issueIdOrKey}/worklog
POST /rest/api/3/issue/{issueIdOrKey}/worklog
GET /rest/api/3/issue/{issueIdOrKey}/worklog/{id}
PUT /rest/api/3/issue/{issueIdOrKey}/worklog/{id}
DELETE /rest/api/3/issue/{issueIdOrKey}/worklog/{id}
GET /rest/api/3/issue/{issueIdOrKey}/watchers
POST /rest/api/3/issue/{issueIdOrKey}/watchers
DELETE /rest/api/3/issue/{issueIdOrKey}/watchers
POST /rest/api/3/issue/{issueIdOrKey}/attachments
GET /rest/api/3/attachment/meta
GET /rest/api/3/attachment/{id}
DELETE /rest/api/3/attachment/{id}
GET /rest/api/3/attachment/content/{id}
POST /rest/api/3/issueLink
GET /rest/api/3/issueLink/{linkId}
DELETE /rest/api/3/issueLink/{linkId}
GET /rest/api/3/issueLinkType
GET /rest/api/3/label
POST /rest/api/3/jql/parse
GET /rest/api/3/jql/autocompletedata
GET /rest/api/3/jql/autocompletedata/suggestions
POST /rest/api/3/search/approximate-count
GET /rest/api/3/search/jql
POST /rest/api/3/search/jql
GET /rest/api/3/search
POST /rest/api/3/search
GET /rest/api/3/webhook
POST /rest/api/3/webhook
DELETE /rest/api/3/webhook
PUT /rest/api/3/webhook/refresh
GET /rest/api/3/webhook/failed
"""),
    "Agile": ("jira-software-agile.json", """
GET /rest/agile/1.0/board
GET /rest/agile/1.0/board/{boardId}
GET /rest/agile/1.0/board/{boardId}/configuration
GET /rest/agile/1.0/board/{boardId}/sprint
GET /rest/agile/1.0/board/{boardId}/backlog
GET /rest/agile/1.0/board/{boardId}/epic
GET /rest/agile/1.0/board/{boardId}/issue
GET /rest/agile/1.0/board/{boardId}/project
GET /rest/agile/1.0/board/{boardId}/version
POST /rest/agile/1.0/sprint
GET /rest/agile/1.0/sprint/{sprintId}
PUT /rest/agile/1.0/sprint/{sprintId}
POST /rest/agile/1.0/sprint/{sprintId}
DELETE /rest/agile/1.0/sprint/{sprintId}
GET /rest/agile/1.0/sprint/{sprintId}/issue
POST /rest/agile/1.0/sprint/{sprintId}/issue
POST /rest/agile/1.0/backlog/issue
GET /rest/agile/1.0/epic/{epicIdOrKey}
GET /rest/agile/1.0/epic/{epicIdOrKey}/issue
PUT /rest/agile/1.0/issue/rank
POST /rest/agile/1.0/epic/{epicIdOrKey}
POST /rest/agile/1.0/epic/{epicIdOrKey}/issue
POST /rest/agile/1.0/epic/none/issue
"""),
    "ServiceDesk": ("jira-service-management.json", """
GET /rest/servicedeskapi/servicedesk
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype
GET /rest/servicedeskapi/requesttype
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype/{requestTypeId}/field
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/queue
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/queue/{queueId}
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/queue/{queueId}/issue
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/customer
POST /rest/servicedeskapi/servicedesk/{serviceDeskId}/customer
DELETE /rest/servicedeskapi/servicedesk/{serviceDeskId}/customer
GET /rest/servicedeskapi/request
POST /rest/servicedeskapi/request
GET /rest/servicedeskapi/request/{issueIdOrKey}
GET /rest/servicedeskapi/request/{issueIdOrKey}/status
GET /rest/servicedeskapi/request/{issueIdOrKey}/comment
GET /rest/servicedeskapi/request/{issueIdOrKey}/comment/{commentId}
GET /rest/servicedeskapi/request/{issueIdOrKey}/sla
GET /rest/servicedeskapi/request/{issueIdOrKey}/participant
POST /rest/servicedeskapi/request/{issueIdOrKey}/participant
POST /rest/servicedeskapi/request/{issueIdOrKey}/comment
GET /rest/servicedeskapi/request/{issueIdOrKey}/transition
POST /rest/servicedeskapi/request/{issueIdOrKey}/transition
GET /rest/servicedeskapi/request/{issueIdOrKey}/approval
GET /rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}
POST /rest/servicedeskapi/request/{issueIdOrKey}/approval/{approvalId}
POST /rest/servicedeskapi/customer
GET /rest/servicedeskapi/organization
GET /rest/servicedeskapi/organization/{organizationId}
POST /rest/servicedeskapi/organization
DELETE /rest/servicedeskapi/organization/{organizationId}
GET /rest/servicedeskapi/organization/{organizationId}/user
POST /rest/servicedeskapi/organization/{organizationId}/user
GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/organization
POST /rest/servicedeskapi/servicedesk/{serviceDeskId}/organization
"""),
}


def scopes(op):
    classic, granular = [], []
    for s in op.get("x-atlassian-oauth2-scopes") or []:
        (classic if s.get("state") == "Current" else granular).extend(s.get("scopes", []))
    if not classic and not granular:
        for sec in op.get("security") or []:
            classic.extend(sec.get("OAuth2", []))
    return classic, granular


OPT_IN = "X-ExperimentalApi: opt-in"


def requires_opt_in(doc):
    """Whether the document (outside its operations) tells clients to send the opt-in header."""
    rest = {k: v for k, v in doc.items() if k != "paths"}
    return OPT_IN in json.dumps(rest)


def rs_list(xs):
    return "&[" + ", ".join(json.dumps(x) for x in xs) + "]"


print("// @generated by tools/gen_routes.py from the Atlassian OpenAPI documents; do not edit.")
print("use crate::routes::{Api, OpSpec};\n")
print("pub static OPERATIONS: &[OpSpec] = &[")
for api, (fname, text) in OPS.items():
    doc = json.load(open(f"{SPECS}/{fname}"))
    doc_opt_in = requires_opt_in(doc)
    for line in text.strip().splitlines():
        method, path = line.split()
        op = doc["paths"][path][method.lower()]
        classic, granular = scopes(op)
        experimental = bool(op.get("x-experimental"))
        opt_in = experimental and doc_opt_in
        print(f"    OpSpec {{ api: Api::{api}, method: {json.dumps(method)}, template: {json.dumps(path)}, "
              f"operation_id: {json.dumps(op['operationId'])}, classic_scopes: {rs_list(classic)}, "
              f"granular_scopes: {rs_list(granular)}, experimental: {str(experimental).lower()}, "
              f"opt_in_header: {str(opt_in).lower()} }},")
print("];\n")

# Every scope the specs declare: the seeded OAuth client may grant any of them.
allscopes = set()
for fname in ("jira-platform-v3.json", "jira-software-agile.json", "jira-service-management.json"):
    doc = json.load(open(f"{SPECS}/{fname}"))
    flows = doc["components"]["securitySchemes"]["OAuth2"]["flows"]
    for f in flows.values():
        allscopes.update(f.get("scopes", {}).keys())
allscopes.update(["offline_access", "read:jira-work", "write:jira-work", "read:jira-user", "manage:jira-project",
                  "manage:jira-configuration", "manage:jira-webhook", "manage:jira-data-provider",
                  "read:servicedesk-request", "write:servicedesk-request", "manage:servicedesk-customer"])
print("pub static KNOWN_SCOPES: &[&str] = &[")
for s in sorted(allscopes):
    print(f"    {json.dumps(s)},")
print("];")
