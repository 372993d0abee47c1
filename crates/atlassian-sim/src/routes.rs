//! The operation table (generated from the specs) and path matching against it.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Platform,
    Agile,
    ServiceDesk,
}

impl Api {
    /// File name of the OpenAPI document the operation comes from.
    pub fn spec_file(self) -> &'static str {
        match self {
            Api::Platform => "jira-platform-v3.json",
            Api::Agile => "jira-software-agile.json",
            Api::ServiceDesk => "jira-service-management.json",
        }
    }
}

/// One implemented operation.
#[derive(Debug)]
pub struct OpSpec {
    pub api: Api,
    pub method: &'static str,
    pub template: &'static str,
    pub operation_id: &'static str,
    /// Scopes of the current (classic) OAuth scheme; all are required.
    pub classic_scopes: &'static [&'static str],
    /// Granular scopes; all are required when the classic ones are not granted.
    pub granular_scopes: &'static [&'static str],
    /// The spec marks the operation experimental (`x-experimental`).
    pub experimental: bool,
    /// Experimental in a document that requires `X-ExperimentalApi: opt-in` for such
    /// operations: without that header Jira answers 412.
    pub opt_in_header: bool,
}

/// The request header experimental Service Management operations require, and its value.
pub const OPT_IN_HEADER: &str = "X-ExperimentalApi";
pub const OPT_IN_VALUE: &str = "opt-in";

impl OpSpec {
    /// Scope sets of which the caller must hold at least one completely.
    pub fn scope_alternatives(&self) -> Vec<Vec<&'static str>> {
        let mut alts = Vec::new();
        if !self.classic_scopes.is_empty() {
            alts.push(self.classic_scopes.to_vec());
        }
        if !self.granular_scopes.is_empty() {
            alts.push(self.granular_scopes.to_vec());
        }
        if self.api == Api::Agile {
            // Jira Software accepts the classic Jira scopes as well.
            alts.push(vec![if self.method == "GET" {
                "read:jira-work"
            } else {
                "write:jira-work"
            }]);
        }
        alts
    }

    pub fn route_name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// All implemented operations.
pub fn operations() -> &'static [OpSpec] {
    crate::routes_table::OPERATIONS
}

/// Path parameters by template name.
pub type Params = Vec<(&'static str, String)>;

pub enum Match {
    Found(&'static OpSpec, Params),
    /// The path exists but not with this method.
    WrongMethod,
    NotFound,
}

/// Matches `path` (already stripped of the site prefix) against the table. Literal segments
/// beat parameters, so `/issue/bulk` wins over `/issue/{issueIdOrKey}`.
pub fn find(method: &str, path: &str) -> Match {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    let mut best: Option<(usize, &'static OpSpec, Params)> = None;
    let mut path_exists = false;
    for op in operations() {
        let tsegs: Vec<&'static str> = op.template.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut literals = 0;
        let mut params = Vec::new();
        let mut ok = true;
        for (t, s) in tsegs.iter().zip(&segs) {
            if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                if s.is_empty() {
                    ok = false;
                    break;
                }
                params.push((name, percent_decode(s)));
            } else if t == s {
                literals += 1;
            } else {
                ok = false;
                break;
            }
        }
        if !ok {
            continue;
        }
        path_exists = true;
        if op.method != method {
            continue;
        }
        if best.as_ref().is_none_or(|(l, _, _)| literals > *l) {
            best = Some((literals, op, params));
        }
    }
    match best {
        Some((_, op, params)) => Match::Found(op, params),
        None if path_exists => Match::WrongMethod,
        None => Match::NotFound,
    }
}

pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(b) = hex {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_segments_win_and_methods_matter() {
        let Match::Found(op, params) = find("GET", "/rest/api/3/issue/ENG-1") else {
            panic!()
        };
        assert_eq!(op.operation_id, "getIssue");
        assert_eq!(params, vec![("issueIdOrKey", "ENG-1".to_owned())]);
        let Match::Found(op, _) = find("POST", "/rest/api/3/issue/bulk") else {
            panic!()
        };
        assert_eq!(op.operation_id, "createIssues");
        assert!(matches!(
            find("PATCH", "/rest/api/3/issue/ENG-1"),
            Match::WrongMethod
        ));
        assert!(matches!(
            find("GET", "/rest/api/3/nothing"),
            Match::NotFound
        ));
        assert_eq!(percent_decode("a%20b%2"), "a b%2");
    }

    #[test]
    fn only_experimental_service_management_operations_need_the_opt_in_header() {
        let opt_in: Vec<&str> = operations()
            .iter()
            .filter(|o| o.opt_in_header)
            .map(|o| o.operation_id)
            .collect();
        assert!(opt_in.contains(&"getCustomers"), "{opt_in:?}");
        assert!(opt_in.contains(&"removeCustomers"), "{opt_in:?}");
        assert!(opt_in.contains(&"getAllRequestTypes"), "{opt_in:?}");
        for op in operations().iter().filter(|o| o.opt_in_header) {
            assert!(op.experimental && op.api == Api::ServiceDesk, "{op:?}");
        }
        // Experimental platform operations exist, but the platform needs no header.
        assert!(
            operations()
                .iter()
                .any(|o| o.experimental && o.api == Api::Platform && !o.opt_in_header)
        );
    }

    #[test]
    fn every_operation_has_scopes_or_is_public() {
        for op in operations() {
            if op.operation_id != "getServerInfo" {
                assert!(
                    !op.scope_alternatives().is_empty(),
                    "{} has no scopes",
                    op.operation_id
                );
            }
        }
    }
}
