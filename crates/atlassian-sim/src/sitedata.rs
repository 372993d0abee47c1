//! The mutable state of one Jira site. Seeded issues live as compact fixed-size rows; their
//! text is derived on demand from the seed. Anything edited or created gets an
//! [`IssueExtra`] that overrides the derived text, and per-issue collections (comments,
//! changelog, watchers) are copied out of the derivation on first write.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use serde_json::Value;

use crate::model::{self, Category, EPIC, PROJECTS, ProjectKind, STATUSES};
use crate::seed::{self, hash};

pub const FIRST_ISSUE_ID: u64 = 10000;
pub const NO_USER: u8 = u8::MAX;
const DAY: i64 = 86_400;

/// One issue row. Seeded and created issues share it.
#[derive(Clone, Debug)]
pub struct IssueCore {
    pub project: u8,
    pub number: u32,
    pub issue_type: u8,
    pub status: u8,
    pub priority: u8,
    pub assignee: u8,
    pub reporter: u8,
    pub labels: u8,
    pub story_points: u8,
    pub request_type: u8,
    pub deleted: bool,
    pub has_extra: bool,
    /// Sprint id, 0 = none.
    pub sprint: u32,
    /// Parent issue id, 0 = none.
    pub parent: u64,
    pub created: i64,
    pub updated: i64,
    /// 0 = unresolved.
    pub resolved: i64,
}

/// Text and list fields of an issue that was created or edited.
#[derive(Clone, Debug, Default)]
pub struct IssueExtra {
    pub summary: String,
    pub description: Value,
    pub labels: Vec<String>,
    pub components: Vec<u64>,
    pub fix_versions: Vec<u64>,
    pub duedate: Option<String>,
    pub custom: BTreeMap<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: u64,
    pub author: u8,
    pub update_author: u8,
    pub body: Value,
    pub created: i64,
    pub updated: i64,
    /// Service Management: visible to the customer.
    pub public: bool,
}

#[derive(Clone, Debug)]
pub struct Worklog {
    pub id: u64,
    pub issue: u64,
    pub author: u8,
    pub update_author: u8,
    pub comment: Value,
    pub started: i64,
    pub time_spent_seconds: i64,
    pub created: i64,
    pub updated: i64,
}

#[derive(Clone, Debug)]
pub struct ChangeItem {
    pub field: String,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

#[derive(Clone, Debug)]
pub struct History {
    pub id: u64,
    pub author: u8,
    pub created: i64,
    pub items: Vec<ChangeItem>,
}

#[derive(Clone, Debug)]
pub struct Attachment {
    pub id: u64,
    pub issue: u64,
    pub filename: String,
    pub mime_type: String,
    pub author: u8,
    pub created: i64,
    pub content: Bytes,
}

#[derive(Clone, Debug)]
pub struct IssueLink {
    pub id: u64,
    pub link_type: u8,
    pub inward: u64,
    pub outward: u64,
}

#[derive(Clone, Debug)]
pub struct Version {
    pub id: u64,
    pub project: u8,
    pub name: String,
    pub description: String,
    pub released: bool,
    pub archived: bool,
    pub release_date: Option<String>,
    pub start_date: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Component {
    pub id: u64,
    pub project: u8,
    pub name: String,
    pub description: String,
    pub lead: Option<u8>,
}

/// A customer account created at runtime (POST /rest/servicedeskapi/customer).
#[allow(dead_code)] // account_id/display_name: for resolving runtime customers later
#[derive(Clone, Debug)]
pub struct CreatedCustomer {
    pub account_id: String,
    pub email: String,
    pub display_name: String,
}

/// A Service Management customer organization.
#[derive(Clone, Debug)]
pub struct Organization {
    pub id: u64,
    pub name: String,
    pub members: BTreeSet<u8>,
    /// Linked to the service desk.
    pub on_desk: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SprintState {
    Future,
    Active,
    Closed,
}

impl SprintState {
    pub fn as_str(self) -> &'static str {
        match self {
            SprintState::Future => "future",
            SprintState::Active => "active",
            SprintState::Closed => "closed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Sprint {
    pub id: u32,
    pub board: u32,
    pub name: String,
    pub state: SprintState,
    pub goal: String,
    pub start: Option<i64>,
    pub end: Option<i64>,
    pub complete: Option<i64>,
    pub created: i64,
}

#[derive(Clone, Debug)]
pub struct Board {
    pub id: u32,
    pub name: String,
    pub project: u8,
    pub scrum: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApprovalDecision {
    Pending,
    Approved,
    Declined,
}

#[derive(Clone, Debug)]
pub struct Approval {
    pub id: u64,
    pub name: String,
    pub approvers: Vec<u8>,
    pub decision: ApprovalDecision,
    pub created: i64,
    pub completed: Option<i64>,
}

/// All mutable data of a site.
pub struct SiteData {
    pub seed: u64,
    pub issues: Vec<IssueCore>,
    pub seeded: usize,
    pub extras: HashMap<u64, IssueExtra>,
    pub created_keys: HashMap<(u8, u32), u64>,
    pub next_number: Vec<u32>,
    pub comments: HashMap<u64, Vec<Comment>>,
    pub worklogs: HashMap<u64, Vec<Worklog>>,
    pub changelog: HashMap<u64, Vec<History>>,
    pub watchers: HashMap<u64, Vec<u8>>,
    /// Service Management request participants (none are seeded).
    pub participants: HashMap<u64, Vec<u8>>,
    pub attachments: BTreeMap<u64, Attachment>,
    pub links: Vec<IssueLink>,
    pub versions: Vec<Version>,
    pub components: Vec<Component>,
    pub boards: Vec<Board>,
    pub sprints: Vec<Sprint>,
    pub approvals: HashMap<u64, Vec<Approval>>,
    pub customers: BTreeSet<u8>,
    /// Customers created at runtime through POST /rest/servicedeskapi/customer.
    pub created_customers: Vec<CreatedCustomer>,
    pub organizations: Vec<Organization>,
    pub next_id: u64,
}

/// How seeded ids of comments are laid out: issue index * 4 + k (k < 3).
const SEEDED_COMMENT_BASE: u64 = 100_000;

impl SiteData {
    /// Generates the seeded rows. Cost is linear in `issue_count` with no heap use per issue.
    pub fn generate(
        seed: u64,
        site_index: usize,
        issue_count: usize,
        start: i64,
        users: usize,
    ) -> SiteData {
        let site_seed = hash(seed, &[site_index as u64, 0x5173]);
        let nproj = PROJECTS.len();
        let mut boards = Vec::new();
        for (p, def) in PROJECTS.iter().enumerate() {
            if def.kind.is_software() {
                boards.push(Board {
                    id: boards.len() as u32 + 1,
                    name: format!("{} board", def.key),
                    project: p as u8,
                    scrum: def.kind == ProjectKind::Scrum,
                });
            }
        }
        let mut sprints = Vec::new();
        for b in boards.iter().filter(|b| b.scrum) {
            let key = PROJECTS[usize::from(b.project)].key;
            for (n, state) in [
                SprintState::Closed,
                SprintState::Active,
                SprintState::Future,
            ]
            .into_iter()
            .enumerate()
            {
                let n = n as i64;
                let start_at = start - 14 * DAY + n * 14 * DAY;
                sprints.push(Sprint {
                    id: sprints.len() as u32 + 1,
                    board: b.id,
                    name: format!("{key} Sprint {}", n + 1),
                    state,
                    goal: [
                        "Ship the billing export",
                        "Stabilise search",
                        "Onboarding polish",
                    ][n as usize]
                        .to_owned(),
                    start: (state != SprintState::Future).then_some(start_at),
                    end: (state != SprintState::Future).then_some(start_at + 14 * DAY),
                    complete: (state == SprintState::Closed).then_some(start_at + 14 * DAY),
                    created: start_at - DAY,
                });
            }
        }
        let scrum_sprints: Vec<u32> = sprints.iter().map(|s| s.id).collect();

        let users = users.max(1) as u64;
        let mut issues = Vec::with_capacity(issue_count);
        for i in 0..issue_count {
            let h = hash(site_seed, &[i as u64]);
            let g = seed::mix(h);
            let p = i % nproj;
            let kind = PROJECTS[p].kind;
            let number = (i / nproj) as u32 + 1;
            let issue_type = match kind {
                ProjectKind::Scrum | ProjectKind::Kanban if number % 10 == 1 => EPIC,
                ProjectKind::Scrum | ProjectKind::Kanban => seed::pick(&[1u8, 2, 3], h),
                ProjectKind::Business => 2,
                ProjectKind::ServiceDesk => model::SERVICE_REQUEST,
            };
            let flow = kind.workflow();
            let mut status = seed::pick(flow, h >> 8);
            let sprint =
                if kind == ProjectKind::Scrum && issue_type != EPIC && !scrum_sprints.is_empty() {
                    let s = (g % 4) as usize;
                    if s == 0 {
                        0
                    } else {
                        scrum_sprints[(s - 1) % scrum_sprints.len()]
                    }
                } else {
                    0
                };
            if sprint != 0 && sprints[sprint as usize - 1].state == SprintState::Closed {
                status = 3;
            }
            let created = start - 3600 - ((h >> 20) % (180 * DAY as u64)) as i64;
            let updated = created + ((g >> 8) % ((start - created) as u64).max(1)) as i64;
            let resolved = if STATUSES[usize::from(status)].category == Category::Done {
                updated
            } else {
                0
            };
            let assignee = if (h >> 28) % 10 < 2 {
                NO_USER
            } else {
                ((h >> 32) % users.min(model::FIRST_CUSTOMER as u64)) as u8
            };
            let reporter = if kind == ProjectKind::ServiceDesk
                && users > model::FIRST_CUSTOMER as u64
            {
                (model::FIRST_CUSTOMER as u64 + (h >> 36) % (users - model::FIRST_CUSTOMER as u64))
                    as u8
            } else {
                ((h >> 36) % users) as u8
            };
            let labels = match (h >> 40) % 9 {
                0..=2 => 0,
                n => 1u8 << (n - 3),
            } | if (g >> 20).is_multiple_of(11) {
                1u8 << ((g >> 24) % 6)
            } else {
                0
            };
            let parent = if kind.is_software() && issue_type != EPIC && !(g >> 32).is_multiple_of(3)
            {
                let epic_number = ((number - 1) / 10) * 10 + 1;
                FIRST_ISSUE_ID + u64::from(epic_number - 1) * nproj as u64 + p as u64
            } else {
                0
            };
            let story_points = if kind.is_software() && issue_type != EPIC {
                seed::pick(&[1u8, 2, 3, 5, 8], g >> 40)
            } else {
                0
            };
            issues.push(IssueCore {
                project: p as u8,
                number,
                issue_type,
                status,
                priority: seed::pick(&[2u8, 2, 2, 1, 3, 0, 4, 2, 3, 1], h >> 48),
                assignee,
                reporter,
                labels,
                story_points,
                request_type: if kind == ProjectKind::ServiceDesk {
                    ((g >> 48) % model::REQUEST_TYPES.len() as u64) as u8
                } else {
                    0
                },
                deleted: false,
                has_extra: false,
                sprint,
                parent,
                created,
                updated,
                resolved,
            });
        }
        let mut next_number = vec![1u32; nproj];
        for c in &issues {
            next_number[usize::from(c.project)] =
                next_number[usize::from(c.project)].max(c.number + 1);
        }
        let mut versions = Vec::new();
        let mut components = Vec::new();
        for (p, def) in PROJECTS.iter().enumerate() {
            if def.kind == ProjectKind::ServiceDesk {
                continue;
            }
            for (n, (name, released)) in [("1.0", true), ("1.1", false)].into_iter().enumerate() {
                versions.push(Version {
                    id: 10000 + versions.len() as u64,
                    project: p as u8,
                    name: name.to_owned(),
                    description: format!("{} release {name}", def.name),
                    released,
                    archived: false,
                    release_date: Some(crate::clock::iso_date(
                        start - 30 * DAY + n as i64 * 60 * DAY,
                    )),
                    start_date: Some(crate::clock::iso_date(
                        start - 90 * DAY + n as i64 * 60 * DAY,
                    )),
                });
            }
            for (n, name) in ["Backend", "Frontend"].into_iter().enumerate() {
                components.push(Component {
                    id: 10000 + components.len() as u64,
                    project: p as u8,
                    name: name.to_owned(),
                    description: format!("{name} work in {}", def.name),
                    lead: Some(n as u8),
                });
            }
        }
        let customers: BTreeSet<u8> = (model::FIRST_CUSTOMER
            ..model::USERS.len().min(users as usize))
            .map(|u| u as u8)
            .collect();
        let organizations = model::ORGANIZATIONS
            .iter()
            .enumerate()
            .map(|(i, name)| Organization {
                id: i as u64 + 1,
                name: (*name).to_owned(),
                members: customers
                    .iter()
                    .copied()
                    .filter(|u| usize::from(*u) % model::ORGANIZATIONS.len() == i)
                    .collect(),
                on_desk: true,
            })
            .collect();
        SiteData {
            seed: site_seed,
            seeded: issues.len(),
            issues,
            extras: HashMap::new(),
            created_keys: HashMap::new(),
            next_number,
            comments: HashMap::new(),
            worklogs: HashMap::new(),
            changelog: HashMap::new(),
            watchers: HashMap::new(),
            participants: HashMap::new(),
            attachments: BTreeMap::new(),
            links: Vec::new(),
            versions,
            components,
            boards,
            sprints,
            approvals: HashMap::new(),
            customers,
            created_customers: Vec::new(),
            organizations,
            next_id: 1_000_000,
        }
    }

    /// A fresh id for comments, worklogs, histories, attachments, links, versions, approvals.
    pub fn alloc_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn core(&self, id: u64) -> Option<&IssueCore> {
        let idx = id.checked_sub(FIRST_ISSUE_ID)?;
        self.issues
            .get(usize::try_from(idx).ok()?)
            .filter(|c| !c.deleted)
    }

    pub fn core_mut(&mut self, id: u64) -> Option<&mut IssueCore> {
        let idx = id.checked_sub(FIRST_ISSUE_ID)?;
        self.issues
            .get_mut(usize::try_from(idx).ok()?)
            .filter(|c| !c.deleted)
    }

    /// Finds an issue by numeric id or `KEY-123` (case-insensitive key).
    pub fn resolve(&self, id_or_key: &str) -> Option<u64> {
        if let Ok(id) = id_or_key.parse::<u64>() {
            return self.core(id).map(|_| id);
        }
        let (key, num) = id_or_key.rsplit_once('-')?;
        let number: u32 = num.parse().ok()?;
        let p = PROJECTS
            .iter()
            .position(|d| d.key.eq_ignore_ascii_case(key))?;
        let nproj = PROJECTS.len() as u64;
        let seeded_id = FIRST_ISSUE_ID + u64::from(number.checked_sub(1)?) * nproj + p as u64;
        let id = if seeded_id < FIRST_ISSUE_ID + self.seeded as u64 {
            seeded_id
        } else {
            *self.created_keys.get(&(p as u8, number))?
        };
        self.core(id).map(|_| id)
    }

    pub fn key(&self, id: u64) -> String {
        match self.core_any(id) {
            Some(c) => format!("{}-{}", PROJECTS[usize::from(c.project)].key, c.number),
            None => format!("UNKNOWN-{id}"),
        }
    }

    fn core_any(&self, id: u64) -> Option<&IssueCore> {
        self.issues
            .get(usize::try_from(id.checked_sub(FIRST_ISSUE_ID)?).ok()?)
    }

    fn text_seed(&self, id: u64) -> u64 {
        hash(self.seed, &[id, 0x7e47])
    }

    pub fn summary(&self, id: u64) -> String {
        if let Some(x) = self.extras.get(&id) {
            return x.summary.clone();
        }
        let Some(c) = self.core_any(id) else {
            return String::new();
        };
        let help = PROJECTS[usize::from(c.project)].kind == ProjectKind::ServiceDesk;
        seed::summary(self.text_seed(id), help, c.issue_type == EPIC)
    }

    pub fn description(&self, id: u64) -> Value {
        if let Some(x) = self.extras.get(&id) {
            return x.description.clone();
        }
        let text = format!(
            "{} — seeded issue {}. Steps to reproduce and acceptance criteria are tracked in the linked documents.",
            self.summary(id),
            self.key(id)
        );
        seed::adf_paragraph(&text)
    }

    pub fn labels(&self, id: u64) -> Vec<String> {
        if let Some(x) = self.extras.get(&id) {
            return x.labels.clone();
        }
        let Some(c) = self.core_any(id) else {
            return Vec::new();
        };
        model::LABELS
            .iter()
            .enumerate()
            .filter(|(i, _)| c.labels & (1 << i) != 0)
            .map(|(_, l)| (*l).to_owned())
            .collect()
    }

    /// The extra record of an issue, materialising the derived values first.
    pub fn extra_mut(&mut self, id: u64) -> &mut IssueExtra {
        if !self.extras.contains_key(&id) {
            let x = IssueExtra {
                summary: self.summary(id),
                description: self.description(id),
                labels: self.labels(id),
                ..IssueExtra::default()
            };
            self.extras.insert(id, x);
            if let Some(c) = self.core_mut(id) {
                c.has_extra = true;
            }
        }
        self.extras.entry(id).or_default()
    }

    pub fn custom_field(&self, id: u64, field: &str) -> Option<&Value> {
        self.extras.get(&id).and_then(|x| x.custom.get(field))
    }

    /// Seeded comments of an issue, derived.
    fn seeded_comments(&self, id: u64) -> Vec<Comment> {
        let Some(c) = self.core_any(id) else {
            return Vec::new();
        };
        if id >= FIRST_ISSUE_ID + self.seeded as u64 {
            return Vec::new();
        }
        let h = hash(self.seed, &[id, 0xc0]);
        let users = model::USERS.len() as u64;
        (0..(h % 3))
            .map(|k| {
                let created = c.created + (k as i64 + 1) * 3600;
                let author = ((h >> (8 + k * 4)) % users) as u8;
                Comment {
                    id: SEEDED_COMMENT_BASE + (id - FIRST_ISSUE_ID) * 4 + k,
                    author,
                    update_author: author,
                    body: seed::adf_paragraph(seed::comment_text(h >> (16 + k * 5))),
                    created,
                    updated: created,
                    public: PROJECTS[usize::from(c.project)].kind == ProjectKind::ServiceDesk,
                }
            })
            .collect()
    }

    pub fn comments(&self, id: u64) -> Vec<Comment> {
        match self.comments.get(&id) {
            Some(list) => list.clone(),
            None => self.seeded_comments(id),
        }
    }

    pub fn comments_mut(&mut self, id: u64) -> &mut Vec<Comment> {
        if !self.comments.contains_key(&id) {
            let seeded = self.seeded_comments(id);
            self.comments.insert(id, seeded);
        }
        self.comments.entry(id).or_default()
    }

    fn seeded_history(&self, id: u64) -> Vec<History> {
        let Some(c) = self.core_any(id) else {
            return Vec::new();
        };
        if id >= FIRST_ISSUE_ID + self.seeded as u64 {
            return Vec::new();
        }
        let initial = PROJECTS[usize::from(c.project)].kind.workflow()[0];
        if c.status == initial {
            return Vec::new();
        }
        let (from, to) = (
            &STATUSES[usize::from(initial)],
            &STATUSES[usize::from(c.status)],
        );
        vec![History {
            id: 200_000 + (id - FIRST_ISSUE_ID),
            author: if c.assignee == NO_USER {
                c.reporter
            } else {
                c.assignee
            },
            created: c.updated,
            items: vec![ChangeItem {
                field: "status".to_owned(),
                from: Some(from.id.to_owned()),
                from_string: Some(from.name.to_owned()),
                to: Some(to.id.to_owned()),
                to_string: Some(to.name.to_owned()),
            }],
        }]
    }

    pub fn history(&self, id: u64) -> Vec<History> {
        match self.changelog.get(&id) {
            Some(list) => list.clone(),
            None => self.seeded_history(id),
        }
    }

    pub fn record_change(&mut self, id: u64, author: u8, now: i64, items: Vec<ChangeItem>) {
        if items.is_empty() {
            return;
        }
        if !self.changelog.contains_key(&id) {
            let seeded = self.seeded_history(id);
            self.changelog.insert(id, seeded);
        }
        let hid = self.alloc_id();
        self.changelog.entry(id).or_default().push(History {
            id: hid,
            author,
            created: now,
            items,
        });
    }

    pub fn watchers(&self, id: u64) -> Vec<u8> {
        if let Some(w) = self.watchers.get(&id) {
            return w.clone();
        }
        let Some(c) = self.core_any(id) else {
            return Vec::new();
        };
        let mut w = vec![c.reporter];
        if c.assignee != NO_USER && c.assignee != c.reporter {
            w.push(c.assignee);
        }
        w
    }

    pub fn watchers_mut(&mut self, id: u64) -> &mut Vec<u8> {
        if !self.watchers.contains_key(&id) {
            let w = self.watchers(id);
            self.watchers.insert(id, w);
        }
        self.watchers.entry(id).or_default()
    }

    /// Approvals of a service request (derived for seeded hardware requests).
    pub fn approvals(&self, id: u64) -> Vec<Approval> {
        if let Some(a) = self.approvals.get(&id) {
            return a.clone();
        }
        let Some(c) = self.core_any(id) else {
            return Vec::new();
        };
        let kind = PROJECTS[usize::from(c.project)].kind;
        if kind != ProjectKind::ServiceDesk {
            return Vec::new();
        }
        let done = STATUSES[usize::from(c.status)].category == Category::Done;
        // Requests of approval-gated types carry a manager approval; every other open
        // seeded request carries a pending one too, so each seed has something to answer.
        if done && !model::REQUEST_TYPES[usize::from(c.request_type)].needs_approval {
            return Vec::new();
        }
        vec![Approval {
            id: 300_000 + (id - FIRST_ISSUE_ID),
            name: "Manager approval".to_owned(),
            approvers: vec![0],
            decision: if done {
                ApprovalDecision::Approved
            } else {
                ApprovalDecision::Pending
            },
            created: c.created + 60,
            completed: done.then_some(c.updated),
        }]
    }

    pub fn approvals_mut(&mut self, id: u64) -> &mut Vec<Approval> {
        if !self.approvals.contains_key(&id) {
            let a = self.approvals(id);
            self.approvals.insert(id, a);
        }
        self.approvals.entry(id).or_default()
    }

    /// Ids of live issues, in id order.
    pub fn live_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.issues
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.deleted)
            .map(|(i, _)| FIRST_ISSUE_ID + i as u64)
    }

    /// Live sub-tasks of an issue. Only created issues can be sub-tasks (none are seeded), so
    /// this scans the created rows alone and stays cheap on large sites.
    pub fn subtasks_of(&self, parent: u64) -> Vec<u64> {
        self.issues[self.seeded..]
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                !c.deleted && c.parent == parent && c.issue_type == crate::model::SUBTASK
            })
            .map(|(i, _)| FIRST_ISSUE_ID + (self.seeded + i) as u64)
            .collect()
    }

    /// Appends a new issue row and returns its id.
    pub fn insert_issue(&mut self, core: IssueCore, extra: IssueExtra) -> u64 {
        let id = FIRST_ISSUE_ID + self.issues.len() as u64;
        let key = (core.project, core.number);
        self.issues.push(IssueCore {
            has_extra: true,
            ..core
        });
        self.extras.insert(id, extra);
        self.created_keys.insert(key, id);
        id
    }

    pub fn take_number(&mut self, project: u8) -> u32 {
        let slot = &mut self.next_number[usize::from(project)];
        let n = *slot;
        *slot += 1;
        n
    }

    pub fn sprint(&self, id: u32) -> Option<&Sprint> {
        self.sprints.iter().find(|s| s.id == id)
    }

    pub fn board(&self, id: u32) -> Option<&Board> {
        self.boards.iter().find(|b| b.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_and_resolvable() {
        let a = SiteData::generate(7, 0, 1000, 1_700_000_000, 8);
        let b = SiteData::generate(7, 0, 1000, 1_700_000_000, 8);
        assert_eq!(a.summary(10_500), b.summary(10_500));
        assert_eq!(a.resolve("ENG-1"), Some(10_000));
        assert_eq!(a.resolve("help-2"), Some(10_007));
        assert_eq!(a.key(10_007), "HELP-2");
        assert_eq!(a.resolve("ENG-999"), None);
        assert_eq!(a.resolve("10999"), Some(10_999));
        assert_eq!(a.resolve("11000"), None);
        let c = SiteData::generate(8, 0, 1000, 1_700_000_000, 8);
        assert!((10_000..10_100).any(|id| a.summary(id) != c.summary(id)));
    }

    #[test]
    fn hundred_thousand_rows_stay_compact() {
        let d = SiteData::generate(1, 0, 100_000, 1_700_000_000, 8);
        assert_eq!(d.live_ids().count(), 100_000);
        assert!(std::mem::size_of::<IssueCore>() <= 64);
    }
}
