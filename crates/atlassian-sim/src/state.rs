//! Shared simulator state: identities, OAuth grants, site data, statistics.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use crate::clock::SimClock;
use crate::config::{DEFAULT_REDIRECT_URI, SimConfig};
use crate::model::USERS;
use crate::ratelimit::RateLimiter;
use crate::routes_table::KNOWN_SCOPES;
use crate::seed::{self, hash};
use crate::sitedata::SiteData;
use crate::webhooks::Hooks;
use crate::webhooks::deliver::{self, Job, Queue};

pub struct User {
    pub index: usize,
    pub account_id: String,
    pub email: String,
    pub display_name: String,
    pub api_token: String,
    pub scoped_api_token: String,
    pub time_zone: &'static str,
    /// *Administer Jira* global permission (the simulator's reading: the first user only).
    pub site_admin: bool,
}

pub struct Site {
    pub index: usize,
    pub subdomain: String,
    pub cloud_id: String,
    pub name: String,
}

pub struct OAuthClient {
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// Scopes the app may request.
    pub allowed_scopes: HashSet<String>,
}

/// A pending authorization code.
pub struct CodeGrant {
    pub client_id: String,
    pub redirect_uri: String,
    pub user: usize,
    pub sites: Vec<usize>,
    pub scopes: Vec<String>,
    pub challenge: Option<(String, String)>,
    pub expires_at: i64,
    pub used: bool,
}

/// One consent: the family of tokens descending from one code exchange.
pub struct Grant {
    pub client_id: String,
    pub user: usize,
    pub sites: Vec<usize>,
    pub scopes: Vec<String>,
    pub created_at: i64,
    pub revoked: bool,
}

pub struct RefreshRecord {
    pub family: u64,
    pub issued_at: i64,
    /// Set once the token was exchanged; with the token it was rotated into.
    pub rotated: Option<(i64, String)>,
}

pub struct AccessRecord {
    pub family: u64,
    pub expires_at: i64,
}

#[derive(Default)]
pub struct AuthStore {
    pub clients: Vec<OAuthClient>,
    pub codes: HashMap<String, CodeGrant>,
    pub grants: HashMap<u64, Grant>,
    pub refresh: HashMap<String, RefreshRecord>,
    pub access: HashMap<String, AccessRecord>,
    pub next_family: u64,
    /// Sites a user agreed to share with a client (for prompt handling on the consent page).
    pub consents: HashMap<(String, usize), Vec<usize>>,
    pub revoked_api_tokens: HashSet<String>,
    /// (user, site) pairs whose access was removed.
    pub revoked_site_access: HashSet<(usize, usize)>,
}

impl AuthStore {
    pub fn user_can_use_site(&self, user: usize, site: usize) -> bool {
        !self.revoked_site_access.contains(&(user, site))
    }
}

/// Counters behind `GET /__sim/stats`.
#[derive(Default)]
pub struct Stats {
    pub code_exchanges: AtomicU64,
    pub refreshes: AtomicU64,
    pub refresh_reuse: AtomicU64,
    pub refresh_reuse_late: AtomicU64,
    pub rate_limited: AtomicU64,
    pub retry_after_violations: AtomicU64,
    pub retry_after_in_flight: AtomicU64,
    pub requests: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn count_route(&self, route: String) {
        *self.requests.lock().entry(route).or_insert(0) += 1;
    }
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> SimStats {
        SimStats {
            token_requests: TokenRequests {
                authorization_code: self.code_exchanges.load(Ordering::Relaxed),
                refresh_token: self.refreshes.load(Ordering::Relaxed),
            },
            refresh_token_reuse: self.refresh_reuse.load(Ordering::Relaxed),
            refresh_token_reuse_late: self.refresh_reuse_late.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            retry_after_violations: self.retry_after_violations.load(Ordering::Relaxed),
            retry_after_in_flight: self.retry_after_in_flight.load(Ordering::Relaxed),
            requests: self.requests.lock().clone(),
        }
    }
}

/// What `GET /__sim/stats` answers.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SimStats {
    pub token_requests: TokenRequests,
    /// Every presentation of an already-rotated refresh token (inside the reuse window too).
    pub refresh_token_reuse: u64,
    /// Reuse after the window: Atlassian's theft signal, which revokes the whole token family.
    #[serde(default)]
    pub refresh_token_reuse_late: u64,
    pub rate_limited: u64,
    pub retry_after_violations: u64,
    /// Requests inside a Retry-After window that arrived within 250 ms of the 429, i.e. were
    /// already on the wire (not violations).
    #[serde(default)]
    pub retry_after_in_flight: u64,
    /// `"<METHOD> <route template>"` -> count, e.g. `"GET /rest/api/3/issue/{issueIdOrKey}"`.
    pub requests: BTreeMap<String, u64>,
}

impl SimStats {
    /// Requests counted for one route, e.g. `requests_for("POST /oauth/token")`.
    pub fn requests_for(&self, route: &str) -> u64 {
        self.requests.get(route).copied().unwrap_or(0)
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenRequests {
    pub authorization_code: u64,
    pub refresh_token: u64,
}

pub struct SimState {
    pub cfg: SimConfig,
    pub base_url: String,
    pub clock: SimClock,
    pub users: Vec<User>,
    pub sites: Vec<Site>,
    pub data: Vec<RwLock<SiteData>>,
    pub auth: Mutex<AuthStore>,
    pub stats: Stats,
    pub limiter: Mutex<RateLimiter>,
    pub fault_rng: Mutex<StdRng>,
    pub request_counter: AtomicU64,
    /// The last [`REQUEST_LOG_CAP`] requests as `"<METHOD> <path?query as received>"`, so tests
    /// can prove where a client went (e.g. never outside a connection's own site).
    pub request_log: Mutex<std::collections::VecDeque<String>>,
    /// Registered webhooks, the delivery log and failed deliveries.
    pub hooks: Mutex<Hooks>,
    /// Deliveries waiting for the background sender.
    pub hook_queue: Queue,
    /// The queue's receiving end until [`crate::Simulator::start`] hands it to the sender task.
    pub hook_rx: Mutex<Option<tokio::sync::mpsc::Receiver<Job>>>,
}

/// How many requests [`SimState::request_log`] keeps.
pub const REQUEST_LOG_CAP: usize = 10_000;

impl SimState {
    /// Appends to the request log, dropping the oldest entry when full.
    pub fn log_request(&self, method: &str, path_and_query: &str) {
        let mut log = self.request_log.lock();
        if log.len() >= REQUEST_LOG_CAP {
            log.pop_front();
        }
        log.push_back(format!("{method} {path_and_query}"));
    }

    pub fn new(cfg: SimConfig, base_url: String) -> SimState {
        let clock = SimClock::default();
        // Seeded dates hang off the start of the current UTC day so that two simulators with the
        // same seed started on the same day serve identical data, and relative JQL dates work.
        let start = clock.now_secs() - clock.now_secs().rem_euclid(86_400);
        let users: Vec<User> = USERS
            .iter()
            .enumerate()
            .map(|(i, u)| {
                let h = hash(cfg.seed, &[0xacc0, i as u64]);
                User {
                    index: i,
                    account_id: format!("712020:{}", seed::uuid_like(h)),
                    email: format!(
                        "{}.{}@example.com",
                        u.first.to_lowercase(),
                        u.last.to_lowercase()
                    ),
                    display_name: format!("{} {}", u.first, u.last),
                    api_token: format!("ATATT3x{}", seed::alnum(seed::mix(h ^ 1), 56)),
                    scoped_api_token: format!("ATATT3x{}", seed::alnum(seed::mix(h ^ 2), 64)),
                    time_zone: u.time_zone,
                    site_admin: i == 0,
                }
            })
            .collect();
        let sites: Vec<Site> = cfg
            .sites
            .iter()
            .enumerate()
            .map(|(i, sub)| {
                let mut name = sub.clone();
                if let Some(first) = name.get_mut(0..1) {
                    first.make_ascii_uppercase();
                }
                Site {
                    index: i,
                    subdomain: sub.clone(),
                    cloud_id: seed::uuid_like(hash(
                        cfg.seed,
                        &[0xc10d, i as u64, seed::str_hash(sub)],
                    )),
                    name,
                }
            })
            .collect();
        let data = (0..sites.len())
            .map(|i| {
                RwLock::new(SiteData::generate(
                    cfg.seed,
                    i,
                    cfg.issues_per_site,
                    start,
                    users.len(),
                ))
            })
            .collect();
        let h = hash(cfg.seed, &[0xc11e]);
        let mut redirect_uris = vec![DEFAULT_REDIRECT_URI.to_owned()];
        for u in &cfg.redirect_uris {
            if !redirect_uris.contains(u) {
                redirect_uris.push(u.clone());
            }
        }
        let client = OAuthClient {
            client_id: seed::alnum(h, 32),
            client_secret: seed::alnum(seed::mix(h), 64),
            redirect_uris,
            allowed_scopes: KNOWN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
        };
        let auth = AuthStore {
            clients: vec![client],
            next_family: 1,
            ..AuthStore::default()
        };
        let limiter = RateLimiter::new(cfg.rate_limit);
        let fault_rng = StdRng::seed_from_u64(cfg.seed ^ 0xfa17);
        let hooks = Hooks::new(cfg.seed, cfg.webhook_duplicate_rate);
        let (hook_queue, hook_rx) = deliver::channel(cfg.webhook_queue);
        SimState {
            cfg,
            base_url,
            clock,
            users,
            sites,
            data,
            auth: Mutex::new(auth),
            stats: Stats::default(),
            limiter: Mutex::new(limiter),
            fault_rng: Mutex::new(fault_rng),
            request_counter: AtomicU64::new(0),
            request_log: Mutex::default(),
            hooks: Mutex::new(hooks),
            hook_queue,
            hook_rx: Mutex::new(Some(hook_rx)),
        }
    }

    pub fn site_url(&self, subdomain: &str) -> String {
        format!("{}/site/{subdomain}", self.base_url)
    }

    pub fn site_by_subdomain(&self, sub: &str) -> Option<&Site> {
        self.sites
            .iter()
            .find(|s| s.subdomain.eq_ignore_ascii_case(sub))
    }

    pub fn site_by_cloud_id(&self, id: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.cloud_id == id)
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    pub fn user_by_account(&self, account_id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.account_id == account_id)
    }

    /// A fresh X-AREQUESTID value.
    pub fn next_request_id(&self) -> String {
        let n = self.request_counter.fetch_add(1, Ordering::Relaxed);
        seed::hex(hash(self.cfg.seed, &[0x4e9, n]), 12)
    }
}

/// Random token material (not derived from the seed: tokens must not be guessable across runs).
pub fn random_token(prefix: &str, len: usize) -> String {
    use rand::Rng;
    use rand::distr::Alphanumeric;
    let s: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{s}")
}
