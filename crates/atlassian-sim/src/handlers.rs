//! Dispatch from an operation id to its handler.

use crate::call::Call;
use crate::multipart::Upload;
use crate::platform::{comments, issues, meta, search};
use crate::reply::{HandlerResult, Reply};
use crate::webhooks::{self, dynamic};
use crate::{agile, servicedesk};

pub fn handle(call: &Call, uploads: Option<Vec<Upload>>) -> HandlerResult {
    let pre = webhooks::events::before(call);
    let result = handle_op(call, uploads);
    webhooks::events::after(call, pre, &result);
    result
}

fn handle_op(call: &Call, uploads: Option<Vec<Upload>>) -> HandlerResult {
    match call.op.operation_id {
        "getCurrentUser" => meta::myself(call),
        "getServerInfo" => meta::server_info(call),
        "getAllProjects" => meta::all_projects(call),
        "searchProjects" => meta::search_projects(call),
        "getProject" => meta::get_project(call),
        "getAllStatuses" => meta::project_statuses(call),
        "getProjectVersions" | "getProjectVersionsPaginated" => meta::project_versions(call),
        "createVersion" => meta::create_version(call),
        "getVersion" => meta::get_version(call),
        "updateVersion" => meta::update_version(call),
        "deleteAndReplaceVersion" => meta::delete_and_replace_version(call),
        "getProjectComponents" | "getProjectComponentsPaginated" => meta::project_components(call),
        "createComponent" => meta::create_component(call),
        "getComponent" => meta::get_component(call),
        "updateComponent" => meta::update_component(call),
        "deleteComponent" => meta::delete_component(call),
        "searchPriorities" => meta::search_priorities(call),
        "getStatus" => meta::get_status(call),
        "search" => meta::search_statuses(call),
        "searchResolutions" => meta::search_resolutions(call),
        "getFieldsPaginated" => meta::search_fields(call),
        "getIssueTypesForProject" => meta::issue_types_for_project(call),
        "getEditIssueMeta" => meta::edit_meta(call),
        "getAttachmentMeta" => meta::attachment_meta(call),
        "getIssueAllTypes" => meta::issue_types(call),
        "getIssueType" => meta::issue_type(call),
        "getFields" => meta::fields(call),
        "getPriorities" => meta::priorities(call),
        "getPriority" => meta::priority(call),
        "getStatuses" => meta::statuses(call),
        "getAllUsers" => meta::all_users(call),
        "getUser" => meta::get_user(call),
        "findUsers" => meta::find_users(call),
        "findAssignableUsers" => meta::assignable_users(call),
        "getAllLabels" => meta::labels(call),
        "getIssueLinkTypes" => meta::link_types(call),
        "getCreateIssueMetaIssueTypes" => meta::createmeta_issue_types(call),
        "getCreateIssueMetaIssueTypeId" => meta::createmeta_fields(call),
        "createIssue" => issues::create_issue(call),
        "createIssues" => issues::create_issues(call),
        "getIssue" => issues::get_issue(call),
        "editIssue" => issues::edit_issue(call),
        "deleteIssue" => issues::delete_issue(call),
        "assignIssue" => issues::assign_issue(call),
        "getChangeLogs" => issues::changelog(call),
        "getTransitions" => issues::get_transitions(call),
        "doTransition" => issues::do_transition(call),
        "getComments" => comments::list_comments(call),
        "addComment" => comments::add_comment(call),
        "getComment" => comments::get_comment(call),
        "updateComment" => comments::update_comment(call),
        "deleteComment" => comments::delete_comment(call),
        "getIssueWorklog" => comments::list_worklogs(call),
        "addWorklog" => comments::add_worklog(call),
        "getWorklog" => comments::get_worklog(call),
        "updateWorklog" => comments::update_worklog(call),
        "deleteWorklog" => comments::delete_worklog(call),
        "getIssueWatchers" => comments::get_watchers(call),
        "addWatcher" => comments::add_watcher(call),
        "removeWatcher" => comments::remove_watcher(call),
        "addAttachment" => comments::add_attachments(call, uploads.unwrap_or_default()),
        "getAttachment" => comments::get_attachment(call),
        "removeAttachment" => comments::delete_attachment(call),
        "getAttachmentContent" => comments::attachment_content(call),
        "linkIssues" => comments::link_issues(call),
        "getIssueLink" => comments::get_link(call),
        "deleteIssueLink" => comments::delete_link(call),
        "parseJqlQueries" => search::parse_queries(call),
        "getAutoComplete" => search::autocomplete(call),
        "getFieldAutoCompleteForQueryString" => search::autocomplete_suggestions(call),
        "countIssues" => search::approximate_count(call),
        "searchAndReconsileIssuesUsingJql" | "searchAndReconsileIssuesUsingJqlPost" => {
            search::search_jql(call)
        }
        "searchForIssuesUsingJql" | "searchForIssuesUsingJqlPost" => search::removed_search(call),
        "registerDynamicWebhooks" => dynamic::register(call),
        "getDynamicWebhooksForApp" => dynamic::list(call),
        "deleteWebhookById" => dynamic::delete(call),
        "refreshWebhooks" => dynamic::refresh(call),
        "getFailedWebhooks" => dynamic::failed(call),
        other => agile::handle(call)
            .or_else(|| servicedesk::handle(call))
            .unwrap_or_else(|| {
                Err(Reply::not_found(&format!(
                    "Operation {other} is not available."
                )))
            }),
    }
}
