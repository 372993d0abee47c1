//! The printed tables (Markdown, so they paste into a README) and the JSON document.

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::calls::{Kind, SEARCH_FIELDS, SEARCH_LIMIT};
use crate::{Args, RunInfo, RunResult};

/// Calls through jiragate after which the RSS target applies.
const RSS_AFTER_CALLS: u64 = 10_000;

#[derive(Debug, Clone, Copy)]
enum Cmp {
    AtLeast,
    AtMost,
}

/// One line of issue 15's targets table.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: &'static str,
    pub value: Option<f64>,
    cmp: Cmp,
    pub threshold: f64,
    pub unit: &'static str,
    /// Why there is no value, when there is none.
    pub note: Option<String>,
}

impl Target {
    pub fn verdict(&self) -> &'static str {
        match self.value {
            None => "n/a",
            Some(v) => {
                let pass = match self.cmp {
                    Cmp::AtLeast => v >= self.threshold,
                    Cmp::AtMost => v <= self.threshold,
                };
                if pass { "pass" } else { "MISS" }
            }
        }
    }

    fn goal(&self) -> String {
        let op = match self.cmp {
            Cmp::AtLeast => "≥",
            Cmp::AtMost => "≤",
        };
        format!("{op} {}{}", fmt_num(self.threshold), self.unit)
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "—".to_owned(), |v| format!("{v:.digits$}"))
}

/// The relay's figures at one concurrency, and each jiragate GET path's calls/s ÷ the relay's.
struct Floor {
    concurrency: usize,
    ratio: Option<f64>,
    added_p50_ms: Option<f64>,
    paths: [(Kind, Option<f64>); 3],
}

pub struct Report<'a> {
    pub args: &'a Args,
    pub info: RunInfo,
    pub results: Vec<RunResult>,
    pub targets: Vec<Target>,
}

impl<'a> Report<'a> {
    pub fn new(args: &'a Args, info: RunInfo, results: Vec<RunResult>) -> Report<'a> {
        let mut r = Report {
            args,
            info,
            results,
            targets: Vec::new(),
        };
        r.targets = r.compute_targets();
        r
    }

    fn find(&self, kind: Kind, conc: usize) -> Option<&RunResult> {
        self.results
            .iter()
            .find(|r| r.kind == kind && r.concurrency == conc)
    }

    /// calls/s of `r` ÷ calls/s of its direct baseline at the same concurrency.
    pub fn ratio(&self, r: &RunResult) -> Option<f64> {
        let base = self.find(r.kind.baseline()?, r.concurrency)?;
        (base.calls_per_s > 0.0 && r.ok > 0).then(|| r.calls_per_s / base.calls_per_s)
    }

    /// p50 of `r` − p50 of its direct baseline at the same concurrency, ms.
    pub fn added_p50(&self, r: &RunResult) -> Option<f64> {
        let base = self.find(r.kind.baseline()?, r.concurrency)?;
        Some(r.p50_ms? - base.p50_ms?)
    }

    /// calls/s of `kind` ÷ calls/s of the zero-work relay, at `conc` in flight.
    fn of_relay(&self, kind: Kind, conc: usize) -> Option<f64> {
        let relay = self.find(Kind::RelayGet, conc)?;
        let r = self.find(kind, conc)?;
        (relay.calls_per_s > 0.0 && r.ok > 0).then(|| r.calls_per_s / relay.calls_per_s)
    }

    /// What one hop costs on this machine, and how close jiragate comes to it, per
    /// concurrency that has a relay run.
    fn floor(&self) -> Vec<Floor> {
        [1, self.args.concurrency]
            .into_iter()
            .filter_map(|conc| {
                let relay = self.find(Kind::RelayGet, conc)?;
                Some(Floor {
                    concurrency: conc,
                    ratio: self.ratio(relay),
                    added_p50_ms: self.added_p50(relay),
                    paths: [Kind::ExecuteGet, Kind::ProxyGet, Kind::McpGet]
                        .map(|kind| (kind, self.of_relay(kind, conc))),
                })
            })
            .collect()
    }

    fn floor_text(&self) -> Option<String> {
        let lines: Vec<String> = self
            .floor()
            .iter()
            .map(|f| {
                let mut line = format!(
                    "floor at {} in flight: a TCP relay that does no work reaches {} × direct (added p50 {} ms)",
                    f.concurrency,
                    opt(f.ratio, 2),
                    opt(f.added_p50_ms, 3)
                );
                for (kind, v) in f.paths {
                    if let Some(v) = v {
                        let _ = write!(line, "; {} {v:.2} × relay", kind.name());
                    }
                }
                line
            })
            .collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    }

    fn floor_json(&self) -> Value {
        let rows: Vec<Value> = self
            .floor()
            .iter()
            .map(|f| {
                let mut row = json!({
                    "concurrency": f.concurrency,
                    "relay_ratio_vs_direct": f.ratio,
                    "relay_added_p50_ms": f.added_p50_ms,
                });
                for (kind, v) in f.paths {
                    row[format!("{}_vs_relay", kind.id())] = json!(v);
                }
                row
            })
            .collect();
        Value::Array(rows)
    }

    fn compute_targets(&self) -> Vec<Target> {
        let c = self.args.concurrency;
        let ratio = |k, conc| self.find(k, conc).and_then(|r| self.ratio(r));
        let t = |name, value: Option<f64>, cmp, threshold, unit| Target {
            name,
            value,
            cmp,
            threshold,
            unit,
            note: None,
        };
        let exec_get_1 = self.find(Kind::ExecuteGet, 1);
        let mut rss_after = t(
            "serve RSS after 10k calls",
            self.info.final_rss_mib,
            Cmp::AtMost,
            40.0,
            " MB",
        );
        if self.info.jiragate_requests < RSS_AFTER_CALLS {
            rss_after.value = None;
            rss_after.note = Some(format!(
                "only {} calls went through jiragate",
                self.info.jiragate_requests
            ));
        }
        let mut targets = vec![
            t(
                "execute issues.get ÷ direct, sequential",
                ratio(Kind::ExecuteGet, 1),
                Cmp::AtLeast,
                0.6,
                "",
            ),
            t(
                "execute issues.get ÷ direct, 16 in flight",
                ratio(Kind::ExecuteGet, c),
                Cmp::AtLeast,
                0.85,
                "",
            ),
            t(
                "execute issues.search ÷ direct, sequential",
                ratio(Kind::ExecuteSearch, 1),
                Cmp::AtLeast,
                0.55,
                "",
            ),
            t(
                "proxy GET ÷ direct, sequential",
                ratio(Kind::ProxyGet, 1),
                Cmp::AtLeast,
                0.7,
                "",
            ),
            t(
                "added p50 latency, execute get",
                exec_get_1.and_then(|r| self.added_p50(r)),
                Cmp::AtMost,
                0.25,
                " ms",
            ),
            t(
                "jiragate CPU per execute get",
                exec_get_1.and_then(|r| r.serve_cpu_ms_per_call),
                Cmp::AtMost,
                0.15,
                " ms",
            ),
            t(
                "serve idle RSS",
                self.info.idle_rss_mib,
                Cmp::AtMost,
                25.0,
                " MB",
            ),
            rss_after,
        ];
        if c != 16 {
            targets[1].note = Some(format!("measured at {c} in flight, not 16"));
        }
        targets
    }

    pub fn text(&self) -> String {
        let mut s = String::new();
        let i = &self.info;
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "jiragate-bench: {} measured calls per run (at most {} s) in {} interleaved rounds, {} warm-up calls, sequential and {} in flight; {} cores{}",
            self.args.calls,
            self.args.seconds,
            self.args.rounds,
            self.args.warmup,
            self.args.concurrency,
            i.cores,
            if self.args.quick {
                "; --quick: proves the harness, measures nothing"
            } else {
                ""
            }
        );
        let _ = writeln!(
            s,
            "search: {} fields, limit {}; issues.get and proxy/MCP GET: one issue of {} cycled keys; HTTP/1.1 keep-alive, one reqwest client for every path",
            SEARCH_FIELDS.len(),
            SEARCH_LIMIT,
            50.min(self.args.issues)
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| scenario | in flight | calls | errors | calls/s | p50 ms | p99 ms | ÷ direct | added p50 ms | jiragate CPU ms/call | sim CPU ms/call | upstream req/call |"
        );
        let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
        for r in &self.results {
            let through = r.kind.through_jiragate();
            let compared = r.kind.baseline().is_some();
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} |",
                r.kind.name(),
                r.concurrency,
                r.ok,
                r.errors,
                r.calls_per_s,
                opt(r.p50_ms, 3),
                opt(r.p99_ms, 3),
                if compared {
                    opt(self.ratio(r), 2)
                } else {
                    "1".to_owned()
                },
                if compared {
                    opt(self.added_p50(r), 3)
                } else {
                    "—".to_owned()
                },
                if through {
                    opt(r.serve_cpu_ms_per_call, 3)
                } else {
                    "—".to_owned()
                },
                opt(r.sim_cpu_ms_per_call, 3),
                opt(r.upstream_per_call, 2),
            );
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "| target (issue 15) | goal | measured | |");
        let _ = writeln!(s, "|---|--:|--:|---|");
        for t in &self.targets {
            let measured = match (t.value, &t.note) {
                (Some(v), Some(n)) => format!("{v:.2}{} ({n})", t.unit),
                (Some(v), None) => format!("{v:.2}{}", t.unit),
                (None, Some(n)) => n.clone(),
                (None, None) => "—".to_owned(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} |",
                t.name,
                t.goal(),
                measured,
                t.verdict()
            );
        }
        if let Some(floor) = self.floor_text() {
            let _ = writeln!(s);
            let _ = writeln!(s, "{floor}");
        }
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "serve RSS: {} MiB idle after start, {} MiB after {} requests through jiragate (VmRSS; MB in the targets read as MiB)",
            opt(i.idle_rss_mib, 1),
            opt(i.final_rss_mib, 1),
            i.jiragate_requests
        );
        let _ = writeln!(
            s,
            "  of which anonymous (heap, stacks): {} MiB idle, {} MiB after; the rest is the binary's own pages as the kernel maps them (file-backed, shared, reclaimable)",
            opt(i.idle_anon_mib, 1),
            opt(i.final_anon_mib, 1),
        );
        let _ = writeln!(
            s,
            "CPU from /proc/<pid>/stat utime+stime at {} ticks/s{}; client, simulator and serve share the same cores",
            i.clk_tck,
            if i.clk_tck_asked {
                " (getconf CLK_TCK)"
            } else {
                " (assumed: getconf CLK_TCK failed)"
            }
        );
        if i.rate_limit_off {
            let _ = writeln!(s, "rate limit: {}", i.rate_limit_note);
        } else {
            let _ = writeln!(s, "!! RATE LIMIT: {}", i.rate_limit_note);
        }
        let limited: u64 = self.results.iter().map(|r| r.rate_limited).sum();
        if limited > 0 {
            let _ = writeln!(
                s,
                "!! {limited} measured calls were refused with 429 by jiragate's per-key rate limit; their runs are not comparable"
            );
        }
        for r in self.results.iter().filter(|r| r.errors > 0) {
            let _ = writeln!(
                s,
                "!! {} at {} in flight: {} errors, first: {}",
                r.kind.name(),
                r.concurrency,
                r.errors,
                r.first_error.as_deref().unwrap_or("?")
            );
        }
        s
    }

    pub fn json(&self) -> Value {
        let i = &self.info;
        json!({
            "settings": {
                "calls": self.args.calls,
                "seconds": self.args.seconds,
                "warmup": self.args.warmup,
                "rounds": self.args.rounds,
                "concurrency": self.args.concurrency,
                "issues": self.args.issues,
                "quick": self.args.quick,
                "search_fields": SEARCH_FIELDS,
                "search_limit": SEARCH_LIMIT,
                "cores": i.cores,
                "jiragate_bin": i.jiragate_bin,
                "sim_bin": i.sim_bin,
                "clk_tck": i.clk_tck,
                "clk_tck_from_getconf": i.clk_tck_asked,
                "rate_limit_off": i.rate_limit_off,
                "rate_limit_note": i.rate_limit_note,
                "api_keys": i.keys,
                "serve_env": i.env_note.iter().map(|(k, v)| json!({"name": k, "value": v})).collect::<Vec<_>>(),
            },
            "runs": self.results.iter().map(|r| json!({
                "scenario": r.kind.id(),
                "name": r.kind.name(),
                "concurrency": r.concurrency,
                "calls": r.ok,
                "errors": r.errors,
                "rate_limited": r.rate_limited,
                "first_error": r.first_error,
                "seconds": r.wall.as_secs_f64(),
                "calls_per_s": r.calls_per_s,
                "p50_ms": r.p50_ms,
                "p99_ms": r.p99_ms,
                "ratio_vs_direct": self.ratio(r),
                "added_p50_ms": self.added_p50(r),
                "jiragate_cpu_ms_per_call": r.kind.through_jiragate().then_some(r.serve_cpu_ms_per_call).flatten(),
                "sim_cpu_ms_per_call": r.sim_cpu_ms_per_call,
                "upstream_requests_per_call": r.upstream_per_call,
            })).collect::<Vec<_>>(),
            "floor": self.floor_json(),
            "rss_mib": {
                "idle": i.idle_rss_mib,
                "after_run": i.final_rss_mib,
                "idle_anon": i.idle_anon_mib,
                "after_run_anon": i.final_anon_mib,
                "jiragate_requests": i.jiragate_requests,
            },
            "targets": self.targets.iter().map(|t| json!({
                "name": t.name,
                "goal": t.goal(),
                "threshold": t.threshold,
                "value": t.value,
                "verdict": t.verdict(),
                "note": t.note,
            })).collect::<Vec<_>>(),
        })
    }
}
