use super::*;
use crate::text::{QUOTE_LIMIT, is_forbidden_char, quote};

const SITE: &str = "https://acme.atlassian.net";
const GATEWAY: &str = "https://api.atlassian.com/ex/jira/11111111-2222-3333-4444-555555555555";
const SIM_SITE: &str = "http://127.0.0.1:9/site/acme";

/// Paths that must never leave the connection's base, whatever the base.
pub(crate) const ESCAPES: &[&str] = &[
    "/..",
    "/../",
    "/rest/../../x",
    "/rest/api/3/..",
    "/./rest",
    "/..\\globex\\rest\\api\\3\\serverInfo",
    "/..\\..\\..\\__sim\\stats",
    "/rest\\..\\..\\x",
    "/%2e%2e/x",
    "/%2E%2E/x",
    "/.%2e/x",
    "/%2e./x",
    "/%2e/x",
    "/rest/%2e%2e%2f%2e%2e/x",
    "/..%2fglobex",
    "/..%2Fglobex",
    "/..%5cglobex",
    "/..%5Cglobex",
    "/%5c..%5c/x",
    "/%252e%252e/x",
    "/%252e%252e%252f",
    "/rest/%25252e",
    "/%c0%ae%c0%ae/x",
    "/%c0%af",
    "/%e0%80%ae%e0%80%ae/x",
    "/..;/x",
    "/rest;jsessionid=1/api",
    "/rest/api/3/issue/A;x=..",
    "//evil.example/x",
    "///evil.example",
    "/rest//api",
    "/@evil.example/x",
    "/rest/api/3/issue/a@evil.example",
    "/%40evil.example",
    "/http://evil.example/x",
    "/rest\r\nHost: evil.example",
    "/rest%0d%0aHost:%20evil",
    "/rest%00",
    "/rest\u{0000}x",
    "/rest/%e2%80%ae",
    "/rest/\u{202e}x",
    "/rest#frag",
    "/rest /x",
    "/rest/%3b",
    "/rest/%3f..",
    "/rest/%2f",
    "/rest/A%2F1",
    "/\\\\evil.example\\share",
];

#[test]
fn escapes_are_refused_on_every_base() {
    assert!(ESCAPES.len() >= 40);
    for base in [SITE, GATEWAY, SIM_SITE] {
        for p in ESCAPES {
            let r = upstream_url(base, p);
            assert!(r.is_err(), "{base} + {p:?} was accepted: {r:?}");
        }
    }
}

#[test]
fn ordinary_jira_paths_pass_and_stay_inside() {
    let cases = [
        ("/rest/api/3/myself", "/rest/api/3/myself"),
        ("rest/api/3/myself", "/rest/api/3/myself"),
        (
            "/rest/api/3/issue/ENG-1?expand=names",
            "/rest/api/3/issue/ENG-1",
        ),
        (
            "/rest/api/3/search/jql?jql=project%20%3D%20ENG%20ORDER%20BY%20key&maxResults=5",
            "/rest/api/3/search/jql",
        ),
        (
            "/rest/agile/1.0/board/1/sprint",
            "/rest/agile/1.0/board/1/sprint",
        ),
        (
            "/rest/api/3/issue/ENG-1/properties/my.key",
            "/rest/api/3/issue/ENG-1/properties/my.key",
        ),
        (
            "/rest/api/3/user/search?query=a@b.com",
            "/rest/api/3/user/search",
        ),
        ("/rest/api/3/issue/", "/rest/api/3/issue/"),
        (
            "/rest/api/3/project/%C3%A9t%C3%A9",
            "/rest/api/3/project/%C3%A9t%C3%A9",
        ),
    ];
    for base in [SITE, GATEWAY, SIM_SITE] {
        let base_path = Url::parse(base)
            .unwrap()
            .path()
            .trim_end_matches('/')
            .to_owned();
        for (p, want) in cases {
            let u = upstream_url(base, p).unwrap_or_else(|e| panic!("{base} + {p}: {e}"));
            assert_eq!(u.path(), format!("{base_path}{want}"));
            assert_eq!(u.host(), Url::parse(base).unwrap().host());
        }
    }
}

#[test]
fn oversized_inputs_are_refused_and_quoted_short() {
    let long = format!("/rest/api/3/issue/{}", "A".repeat(100_000));
    let e = upstream_url(SITE, &long).unwrap_err();
    assert!(e.message.len() < 400, "{}", e.message.len());
    let q = format!("/rest/api/3/myself?x={}", "a".repeat(MAX_QUERY_LEN + 1));
    assert_eq!(upstream_url(SITE, &q).unwrap_err().field, "query");
    let q = quote(&"é".repeat(1000));
    assert!(q.chars().count() < QUOTE_LIMIT + 40);
}

fn cloud() -> UpstreamPolicy {
    UpstreamPolicy::new(
        "https://{subdomain}.atlassian.net",
        "https://api.atlassian.com",
        &["jira.example.com".to_owned()],
    )
    .unwrap()
}

fn sim() -> UpstreamPolicy {
    UpstreamPolicy::new(
        "http://127.0.0.1:9/site/{subdomain}",
        "http://127.0.0.1:9",
        &[],
    )
    .unwrap()
}

#[test]
fn subdomains_are_names_only() {
    let p = cloud();
    for ok in [
        "acme",
        "ACME",
        "acme.atlassian.net",
        "https://acme.atlassian.net/",
        "a-1",
    ] {
        assert_eq!(
            p.site_base(ok).unwrap(),
            if ok == "a-1" {
                "https://a-1.atlassian.net"
            } else {
                "https://acme.atlassian.net"
            }
        );
    }
    for bad in [
        "127.0.0.1:18399/x?",
        "acme/../globex",
        "acme.evil.com",
        "acme@evil.com",
        "acme:443",
        "-acme",
        "acme-",
        "",
        "ac me",
        "acme\u{202e}",
        "acme%2fx",
        "acme\\globex",
        "evil.com#",
        &"a".repeat(64),
    ] {
        assert!(p.site_base(bad).is_err(), "{bad:?} accepted");
        assert!(
            sim().site_base(bad).is_err(),
            "{bad:?} accepted by sim template"
        );
    }
    assert_eq!(
        sim().site_base("globex").unwrap(),
        "http://127.0.0.1:9/site/globex"
    );
}

#[test]
fn site_urls_are_atlassian_or_allowed() {
    let p = cloud();
    for (input, want) in [
        ("https://acme.atlassian.net", "https://acme.atlassian.net"),
        ("https://ACME.atlassian.net/", "https://acme.atlassian.net"),
        ("https://jira.example.com", "https://jira.example.com"),
    ] {
        assert_eq!(p.check_site_url(input).unwrap(), want);
    }
    let e = p
        .check_site_url("https://me:hunter2@acme.atlassian.net")
        .unwrap_err();
    assert!(!e.message.contains("hunter2"), "{e}");
    for bad in [
        "http://127.0.0.1:18389/internal-admin?",
        "http://acme.atlassian.net",
        "https://acme.atlassian.net.evil.com",
        "https://evil.com/acme.atlassian.net",
        "https://user:pw@acme.atlassian.net",
        "https://acme.atlassian.net@evil.com",
        "https://acme.atlassian.net/wiki",
        "https://acme.atlassian.net:8443",
        "https://acme.atlassian.net?x=1",
        "https://a.b.atlassian.net",
        "http://jira.example.com",
        "https://169.254.169.254",
        "file:///etc/passwd",
        "gopher://acme.atlassian.net",
        "https://acme.atlassian.net\\@evil.com",
        "not a url",
    ] {
        assert!(p.check_site_url(bad).is_err(), "{bad:?} accepted");
    }
    let s = sim();
    assert_eq!(
        s.check_site_url("http://127.0.0.1:9/site/acme/").unwrap(),
        "http://127.0.0.1:9/site/acme"
    );
    for bad in [
        "http://127.0.0.1:9/site/acme/../globex",
        "http://127.0.0.1:9/__sim",
        "http://127.0.0.1:10/site/acme",
        "http://127.0.0.1:9/site/a/b",
    ] {
        assert!(
            s.check_site_url(bad).is_err(),
            "{bad:?} accepted by sim policy"
        );
    }
}

#[test]
fn bases_are_admitted_only_in_normal_form() {
    let p = cloud();
    p.admit_base("https://acme.atlassian.net").unwrap();
    p.admit_base("https://api.atlassian.com/ex/jira/abc-123")
        .unwrap();
    assert!(
        p.admit_base("https://api.atlassian.com/ex/jira/abc/../x")
            .is_err()
    );
    assert!(p.admit_base("https://api.atlassian.com/ex/jira/").is_err());
    assert!(
        p.admit_base("http://127.0.0.1:18389/internal-admin")
            .is_err()
    );
    let s = sim();
    s.admit_base("http://127.0.0.1:9/site/acme").unwrap();
    s.admit_base("http://127.0.0.1:9/ex/jira/abc").unwrap();
    assert!(s.admit_base("http://127.0.0.1:9/oauth/token").is_err());
}

#[test]
fn plain_http_templates_must_be_loopback() {
    assert!(
        UpstreamPolicy::new(
            "http://{subdomain}.example.com",
            "https://api.atlassian.com",
            &[]
        )
        .is_err()
    );
    assert!(
        UpstreamPolicy::new("https://{subdomain}.atlassian.net", "http://10.0.0.1", &[]).is_err()
    );
    assert!(
        UpstreamPolicy::new("https://atlassian.net", "https://api.atlassian.com", &[]).is_err()
    );
}

#[test]
fn forbidden_chars() {
    for c in [
        '\0', '\n', '\u{1b}', '\u{85}', '\u{202e}', '\u{2066}', '\u{200b}', '\u{feff}',
    ] {
        assert!(is_forbidden_char(c), "{c:?}");
    }
    for c in ['a', 'é', '日', ' ', '-'] {
        assert!(!is_forbidden_char(c), "{c:?}");
    }
}

/// The URL the parsed base builds is the one parsing the joined text gives (how `url_for`
/// built it before it kept bases parsed), for every path it accepts.
fn assert_same_as_parsing(base: &str, pq: &str) {
    let Ok(built) = upstream_url(base, pq) else {
        return;
    };
    let joined = format!("{}{pq}", base.trim_end_matches('/'));
    let parsed = Url::parse(&joined).unwrap_or_else(|e| panic!("{joined}: {e}"));
    assert_eq!(built.as_str(), parsed.as_str(), "{base} + {pq:?}");
}

#[test]
fn url_for_equals_parsing_the_joined_text() {
    let paths = [
        "/rest/api/3/myself",
        "/rest/api/3/issue/ENG-1?expand=names,renderedFields",
        "/rest/api/3/search/jql?jql=project%20%3D%20ENG&maxResults=5",
        "/rest/api/3/user/search?query=a@b.com",
        "/rest/api/3/issue/",
        "/rest/api/3/project/%C3%A9t%C3%A9",
        "/rest/api/3/x?q='quoted'&r=\"d\"&s=<a>&t={b}|c^d`e\\f",
        "/rest/api/3/x?",
        "/rest/api/3/x??y",
        "/rest/{a}/|b|/^c^/[d]/~e~/!$&'()*+,=:",
        "/rest/api/3/x%20y/%7Bz%7D",
        "/rest/api/3/mixed%c3%a9Case%C3%A9",
    ];
    for base in [
        SITE,
        GATEWAY,
        SIM_SITE,
        "http://localhost:8080",
        "https://ACME.Atlassian.NET/",
    ] {
        for pq in paths {
            assert!(upstream_url(base, pq).is_ok(), "{base} + {pq}");
            assert_same_as_parsing(base, pq);
        }
    }
}

proptest::proptest! {
    /// Segments of every character a path may carry unencoded (no `.`, `%`, `;`, `@`, `\`
    /// and the like, which are refused and covered by [`ESCAPES`]), and any query.
    #[test]
    fn url_for_equals_parsing_for_any_accepted_input(
        segments in proptest::collection::vec("[A-Za-z0-9_~!$&'()*+,=:{}|^\\[\\]-]{1,12}", 1..5),
        query in proptest::option::of("[!-\"$-~]{0,24}"),
    ) {
        let mut pq = format!("/{}", segments.join("/"));
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(&q);
        }
        for base in [SITE, GATEWAY, SIM_SITE] {
            proptest::prop_assert!(upstream_url(base, &pq).is_ok(), "{} + {:?}", base, pq);
            assert_same_as_parsing(base, &pq);
        }
    }
}
