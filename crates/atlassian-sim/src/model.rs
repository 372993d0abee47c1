//! Static reference data shared by every site: issue types, statuses, priorities, fields,
//! link types, and the per-site project layout.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProjectKind {
    Scrum,
    Kanban,
    Business,
    ServiceDesk,
}

impl ProjectKind {
    pub fn type_key(self) -> &'static str {
        match self {
            ProjectKind::Scrum | ProjectKind::Kanban => "software",
            ProjectKind::Business => "business",
            ProjectKind::ServiceDesk => "service_desk",
        }
    }
    pub fn is_software(self) -> bool {
        matches!(self, ProjectKind::Scrum | ProjectKind::Kanban)
    }
    /// Issue types (indexes into [`ISSUE_TYPES`]) available in the project.
    pub fn issue_types(self) -> &'static [u8] {
        match self {
            ProjectKind::Scrum | ProjectKind::Kanban => &[0, 1, 2, 3, 4],
            ProjectKind::Business => &[2, 4],
            ProjectKind::ServiceDesk => &[5, 2],
        }
    }
    /// Statuses (indexes into [`STATUSES`]) of the project's workflow, initial first.
    pub fn workflow(self) -> &'static [u8] {
        match self {
            ProjectKind::ServiceDesk => &[4, 1, 5, 6],
            _ => &[0, 1, 2, 3],
        }
    }
}

pub struct ProjectDef {
    pub key: &'static str,
    pub name: &'static str,
    pub kind: ProjectKind,
}

/// The projects of every site. Seeded issue `i` belongs to project `i % PROJECTS.len()`.
pub const PROJECTS: &[ProjectDef] = &[
    ProjectDef {
        key: "ENG",
        name: "Engineering",
        kind: ProjectKind::Scrum,
    },
    ProjectDef {
        key: "OPS",
        name: "Operations",
        kind: ProjectKind::Kanban,
    },
    ProjectDef {
        key: "MKT",
        name: "Marketing",
        kind: ProjectKind::Business,
    },
    ProjectDef {
        key: "HELP",
        name: "Help Desk",
        kind: ProjectKind::ServiceDesk,
    },
];

pub fn project_id(p: usize) -> u64 {
    10000 + p as u64
}

pub struct IssueTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub subtask: bool,
    pub hierarchy: i32,
}

pub const EPIC: u8 = 0;
pub const SUBTASK: u8 = 4;
pub const SERVICE_REQUEST: u8 = 5;

pub const ISSUE_TYPES: &[IssueTypeDef] = &[
    IssueTypeDef {
        id: "10000",
        name: "Epic",
        description: "A big user story that needs to be broken down.",
        subtask: false,
        hierarchy: 1,
    },
    IssueTypeDef {
        id: "10001",
        name: "Story",
        description: "Functionality or a feature expressed as a user goal.",
        subtask: false,
        hierarchy: 0,
    },
    IssueTypeDef {
        id: "10002",
        name: "Task",
        description: "A small, distinct piece of work.",
        subtask: false,
        hierarchy: 0,
    },
    IssueTypeDef {
        id: "10003",
        name: "Bug",
        description: "A problem or error.",
        subtask: false,
        hierarchy: 0,
    },
    IssueTypeDef {
        id: "10004",
        name: "Subtask",
        description: "A small piece of work that's part of a larger task.",
        subtask: true,
        hierarchy: -1,
    },
    IssueTypeDef {
        id: "10005",
        name: "Service Request",
        description: "Requests for help from customers.",
        subtask: false,
        hierarchy: 0,
    },
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Category {
    New,
    InProgress,
    Done,
}

impl Category {
    pub fn id(self) -> u32 {
        match self {
            Category::New => 2,
            Category::InProgress => 4,
            Category::Done => 3,
        }
    }
    pub fn key(self) -> &'static str {
        match self {
            Category::New => "new",
            Category::InProgress => "indeterminate",
            Category::Done => "done",
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Category::New => "To Do",
            Category::InProgress => "In Progress",
            Category::Done => "Done",
        }
    }
    pub fn color(self) -> &'static str {
        match self {
            Category::New => "blue-gray",
            Category::InProgress => "yellow",
            Category::Done => "green",
        }
    }
    /// Service Management's name for the category.
    pub fn sd_name(self) -> &'static str {
        match self {
            Category::New => "NEW",
            Category::InProgress => "INDETERMINATE",
            Category::Done => "DONE",
        }
    }
}

pub struct StatusDef {
    pub id: &'static str,
    pub name: &'static str,
    pub category: Category,
    /// Name of the transition that leads to this status.
    pub transition: &'static str,
}

pub const STATUSES: &[StatusDef] = &[
    StatusDef {
        id: "10000",
        name: "To Do",
        category: Category::New,
        transition: "To Do",
    },
    StatusDef {
        id: "3",
        name: "In Progress",
        category: Category::InProgress,
        transition: "Start progress",
    },
    StatusDef {
        id: "10001",
        name: "In Review",
        category: Category::InProgress,
        transition: "Request review",
    },
    StatusDef {
        id: "10002",
        name: "Done",
        category: Category::Done,
        transition: "Done",
    },
    StatusDef {
        id: "10003",
        name: "Waiting for support",
        category: Category::New,
        transition: "Back to support",
    },
    StatusDef {
        id: "10004",
        name: "Waiting for customer",
        category: Category::InProgress,
        transition: "Respond to customer",
    },
    StatusDef {
        id: "5",
        name: "Resolved",
        category: Category::Done,
        transition: "Resolve this issue",
    },
];

/// Transition ids are derived from the target status so they are stable per workflow.
pub fn transition_id(status: u8) -> String {
    format!("{}", 11 + u32::from(status) * 10)
}

pub fn status_for_transition(id: &str) -> Option<u8> {
    let n: u32 = id.parse().ok()?;
    if n < 11 || !(n - 11).is_multiple_of(10) {
        return None;
    }
    u8::try_from((n - 11) / 10)
        .ok()
        .filter(|s| usize::from(*s) < STATUSES.len())
}

pub struct PriorityDef {
    pub id: &'static str,
    pub name: &'static str,
    pub color: &'static str,
}

pub const PRIORITIES: &[PriorityDef] = &[
    PriorityDef {
        id: "1",
        name: "Highest",
        color: "#d04437",
    },
    PriorityDef {
        id: "2",
        name: "High",
        color: "#f15C75",
    },
    PriorityDef {
        id: "3",
        name: "Medium",
        color: "#f79232",
    },
    PriorityDef {
        id: "4",
        name: "Low",
        color: "#707070",
    },
    PriorityDef {
        id: "5",
        name: "Lowest",
        color: "#999999",
    },
];
pub const DEFAULT_PRIORITY: u8 = 2;

pub struct LinkTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub inward: &'static str,
    pub outward: &'static str,
}

pub const LINK_TYPES: &[LinkTypeDef] = &[
    LinkTypeDef {
        id: "10000",
        name: "Blocks",
        inward: "is blocked by",
        outward: "blocks",
    },
    LinkTypeDef {
        id: "10001",
        name: "Cloners",
        inward: "is cloned by",
        outward: "clones",
    },
    LinkTypeDef {
        id: "10002",
        name: "Duplicate",
        inward: "is duplicated by",
        outward: "duplicates",
    },
    LinkTypeDef {
        id: "10003",
        name: "Relates",
        inward: "relates to",
        outward: "relates to",
    },
];

pub const LABELS: &[&str] = &[
    "backend",
    "frontend",
    "customer",
    "urgent",
    "tech-debt",
    "security",
];

pub const SPRINT_FIELD: &str = "customfield_10020";
pub const STORY_POINTS_FIELD: &str = "customfield_10016";
pub const REQUEST_TYPE_FIELD: &str = "customfield_10010";
pub const TEAM_FIELD: &str = "customfield_10001";
pub const NOTES_FIELD: &str = "customfield_10050";

/// Field definitions for `GET /field`: (id, name, custom, schema type, system/custom key, orderable, searchable clause names).
pub struct FieldDef {
    pub id: &'static str,
    pub name: &'static str,
    pub custom: bool,
    pub schema_type: &'static str,
    pub items: Option<&'static str>,
    pub key: &'static str,
    pub clause: &'static [&'static str],
}

pub const FIELDS: &[FieldDef] = &[
    FieldDef {
        id: "summary",
        name: "Summary",
        custom: false,
        schema_type: "string",
        items: None,
        key: "summary",
        clause: &["summary"],
    },
    FieldDef {
        id: "description",
        name: "Description",
        custom: false,
        schema_type: "string",
        items: None,
        key: "description",
        clause: &["description"],
    },
    FieldDef {
        id: "issuetype",
        name: "Issue Type",
        custom: false,
        schema_type: "issuetype",
        items: None,
        key: "issuetype",
        clause: &["issuetype", "type"],
    },
    FieldDef {
        id: "project",
        name: "Project",
        custom: false,
        schema_type: "project",
        items: None,
        key: "project",
        clause: &["project"],
    },
    FieldDef {
        id: "status",
        name: "Status",
        custom: false,
        schema_type: "status",
        items: None,
        key: "status",
        clause: &["status"],
    },
    FieldDef {
        id: "priority",
        name: "Priority",
        custom: false,
        schema_type: "priority",
        items: None,
        key: "priority",
        clause: &["priority"],
    },
    FieldDef {
        id: "assignee",
        name: "Assignee",
        custom: false,
        schema_type: "user",
        items: None,
        key: "assignee",
        clause: &["assignee"],
    },
    FieldDef {
        id: "reporter",
        name: "Reporter",
        custom: false,
        schema_type: "user",
        items: None,
        key: "reporter",
        clause: &["reporter"],
    },
    FieldDef {
        id: "labels",
        name: "Labels",
        custom: false,
        schema_type: "array",
        items: Some("string"),
        key: "labels",
        clause: &["labels"],
    },
    FieldDef {
        id: "created",
        name: "Created",
        custom: false,
        schema_type: "datetime",
        items: None,
        key: "created",
        clause: &["created", "createdDate"],
    },
    FieldDef {
        id: "updated",
        name: "Updated",
        custom: false,
        schema_type: "datetime",
        items: None,
        key: "updated",
        clause: &["updated", "updatedDate"],
    },
    FieldDef {
        id: "resolution",
        name: "Resolution",
        custom: false,
        schema_type: "resolution",
        items: None,
        key: "resolution",
        clause: &["resolution"],
    },
    FieldDef {
        id: "resolutiondate",
        name: "Resolved",
        custom: false,
        schema_type: "datetime",
        items: None,
        key: "resolutiondate",
        clause: &["resolved", "resolutiondate"],
    },
    FieldDef {
        id: "duedate",
        name: "Due date",
        custom: false,
        schema_type: "date",
        items: None,
        key: "duedate",
        clause: &["due", "duedate"],
    },
    FieldDef {
        id: "parent",
        name: "Parent",
        custom: false,
        schema_type: "issuelink",
        items: None,
        key: "parent",
        clause: &["parent"],
    },
    FieldDef {
        id: "components",
        name: "Components",
        custom: false,
        schema_type: "array",
        items: Some("component"),
        key: "components",
        clause: &["component"],
    },
    FieldDef {
        id: "fixVersions",
        name: "Fix versions",
        custom: false,
        schema_type: "array",
        items: Some("version"),
        key: "fixVersions",
        clause: &["fixVersion"],
    },
    FieldDef {
        id: "comment",
        name: "Comment",
        custom: false,
        schema_type: "comments-page",
        items: None,
        key: "comment",
        clause: &["comment"],
    },
    FieldDef {
        id: "worklog",
        name: "Log Work",
        custom: false,
        schema_type: "array",
        items: Some("worklog"),
        key: "worklog",
        clause: &[],
    },
    FieldDef {
        id: "attachment",
        name: "Attachment",
        custom: false,
        schema_type: "array",
        items: Some("attachment"),
        key: "attachment",
        clause: &["attachments"],
    },
    FieldDef {
        id: "issuelinks",
        name: "Linked Issues",
        custom: false,
        schema_type: "array",
        items: Some("issuelinks"),
        key: "issuelinks",
        clause: &["issueLink"],
    },
    FieldDef {
        id: "subtasks",
        name: "Sub-tasks",
        custom: false,
        schema_type: "array",
        items: Some("issuelinks"),
        key: "subtasks",
        clause: &["subtasks"],
    },
    FieldDef {
        id: "watches",
        name: "Watchers",
        custom: false,
        schema_type: "watches",
        items: None,
        key: "watches",
        clause: &["watchers"],
    },
    FieldDef {
        id: SPRINT_FIELD,
        name: "Sprint",
        custom: true,
        schema_type: "array",
        items: Some("json"),
        key: "com.pyxis.greenhopper.jira:gh-sprint",
        clause: &["sprint", "cf[10020]"],
    },
    FieldDef {
        id: STORY_POINTS_FIELD,
        name: "Story point estimate",
        custom: true,
        schema_type: "number",
        items: None,
        key: "com.pyxis.greenhopper.jira:jsw-story-points",
        clause: &["Story point estimate", "cf[10016]"],
    },
    FieldDef {
        id: REQUEST_TYPE_FIELD,
        name: "Request Type",
        custom: true,
        schema_type: "sd-customerrequesttype",
        items: None,
        key: "com.atlassian.servicedesk:vp-origin",
        clause: &["Request Type", "cf[10010]"],
    },
    FieldDef {
        id: TEAM_FIELD,
        name: "Team",
        custom: true,
        schema_type: "string",
        items: None,
        key: "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
        clause: &["Team", "cf[10001]"],
    },
    FieldDef {
        id: NOTES_FIELD,
        name: "Customer notes",
        custom: true,
        schema_type: "string",
        items: None,
        key: "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        clause: &["Customer notes", "cf[10050]"],
    },
];

pub struct UserDef {
    pub first: &'static str,
    pub last: &'static str,
    pub time_zone: &'static str,
}

pub const USERS: &[UserDef] = &[
    UserDef {
        first: "Alice",
        last: "Nguyen",
        time_zone: "Europe/Berlin",
    },
    UserDef {
        first: "Bob",
        last: "Okafor",
        time_zone: "Africa/Lagos",
    },
    UserDef {
        first: "Carmen",
        last: "Silva",
        time_zone: "America/Sao_Paulo",
    },
    UserDef {
        first: "Dmitri",
        last: "Petrov",
        time_zone: "Europe/Helsinki",
    },
    UserDef {
        first: "Emma",
        last: "Larsen",
        time_zone: "Europe/Oslo",
    },
    UserDef {
        first: "Farid",
        last: "Haddad",
        time_zone: "Asia/Dubai",
    },
    UserDef {
        first: "Grace",
        last: "Kim",
        time_zone: "Asia/Seoul",
    },
    UserDef {
        first: "Hiro",
        last: "Tanaka",
        time_zone: "Asia/Tokyo",
    },
];

/// Users from this index on are service-desk customers rather than agents.
pub const FIRST_CUSTOMER: usize = 5;

pub struct RequestTypeDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub needs_approval: bool,
}

pub const REQUEST_TYPES: &[RequestTypeDef] = &[
    RequestTypeDef {
        id: "1",
        name: "Get IT help",
        description: "Get assistance for general IT problems and questions.",
        needs_approval: false,
    },
    RequestTypeDef {
        id: "2",
        name: "Request new hardware",
        description: "Need a new laptop, monitor or phone? Ask here.",
        needs_approval: true,
    },
    RequestTypeDef {
        id: "3",
        name: "Fix an account problem",
        description: "Having trouble accessing certain websites or systems?",
        needs_approval: false,
    },
];

pub struct QueueDef {
    pub id: &'static str,
    pub name: &'static str,
    pub jql: &'static str,
}

pub const QUEUES: &[QueueDef] = &[
    QueueDef {
        id: "1",
        name: "All open",
        jql: "project = HELP AND resolution = EMPTY ORDER BY created DESC",
    },
    QueueDef {
        id: "2",
        name: "Assigned to me",
        jql: "project = HELP AND assignee = currentUser() AND resolution = EMPTY ORDER BY created DESC",
    },
    QueueDef {
        id: "3",
        name: "Waiting for customer",
        jql: "project = HELP AND status = \"Waiting for customer\" ORDER BY created DESC",
    },
    QueueDef {
        id: "4",
        name: "Resolved",
        jql: "project = HELP AND statusCategory = Done ORDER BY updated DESC",
    },
];

pub const ORGANIZATIONS: &[&str] = &["Northwind Traders", "Contoso Retail"];
