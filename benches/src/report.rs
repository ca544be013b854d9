//! Samples, statistics and the markdown report.
//!
//! A row holds the samples of one workload for two servers (Isengard and
//! Orthanc; for the cluster rows, the 3-node cluster and the single node):
//! one sample per round for throughputs, one per request for latencies. The
//! report shows medians (latencies: median and p99) and the ratio of the two
//! medians. An existing report keeps whatever lies outside the
//! `<!-- bench:begin -->` / `<!-- bench:end -->` markers: the analysis
//! written by hand survives a new run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::machine::Bandwidth;
use crate::plan::Plan;
use crate::servers::Kind;

pub const BEGIN: &str = "<!-- bench:begin -->";
pub const END: &str = "<!-- bench:end -->";

/// What the ratio of a row should be: at least (higher is better) or at most.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    pub ratio: f64,
    pub at_least: bool,
}

pub const fn at_least(ratio: f64) -> Option<Target> {
    Some(Target {
        ratio,
        at_least: true,
    })
}

pub const fn at_most(ratio: f64) -> Option<Target> {
    Some(Target {
        ratio,
        at_least: false,
    })
}

#[derive(Debug, Clone)]
pub struct Row {
    pub section: String,
    pub name: String,
    pub unit: &'static str,
    /// Samples are latencies: show the median and the p99.
    pub latency: bool,
    /// The two servers compared, first / second.
    pub pair: (Kind, Kind),
    pub samples: BTreeMap<Kind, Vec<f64>>,
    /// Why a server has no number for this row.
    pub missing: BTreeMap<Kind, String>,
    pub target: Option<Target>,
    pub note: String,
}

impl Row {
    pub fn median(&self, kind: Kind) -> Option<f64> {
        self.samples.get(&kind).and_then(|s| percentile(s, 0.5))
    }

    /// First / second median.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.median(self.pair.0)? / self.median(self.pair.1)?)
    }

    pub fn target_met(&self) -> Option<bool> {
        let (target, ratio) = (self.target?, self.ratio()?);
        Some(if target.at_least {
            ratio >= target.ratio
        } else {
            ratio <= target.ratio
        })
    }
}

/// The value at quantile `q` (nearest rank); `None` without samples.
pub fn percentile(samples: &[f64], q: f64) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    if q == 0.5 && sorted.len().is_multiple_of(2) {
        let mid = sorted.len() / 2;
        return Some((sorted[mid - 1] + sorted[mid]) / 2.0);
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1])
}

pub struct Report {
    pub scale: &'static str,
    pub rounds: usize,
    pub command: String,
    pub machine: Vec<(String, String)>,
    pub bandwidth: Bandwidth,
    pub rows: Vec<Row>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
    pub orthanc_version: String,
    pub started: chrono::DateTime<chrono::Local>,
}

/// Describes a row when it is first given a sample.
pub struct Spec {
    pub section: String,
    pub name: String,
    pub unit: &'static str,
    pub latency: bool,
    pub pair: (Kind, Kind),
    pub target: Option<Target>,
    pub note: String,
}

impl Spec {
    pub fn new(section: impl Into<String>, name: impl Into<String>, unit: &'static str) -> Spec {
        Spec {
            section: section.into(),
            name: name.into(),
            unit,
            latency: false,
            pair: (Kind::Isengard, Kind::Orthanc),
            target: None,
            note: String::new(),
        }
    }
    pub fn latency(mut self) -> Spec {
        self.latency = true;
        self
    }
    pub fn pair(mut self, a: Kind, b: Kind) -> Spec {
        self.pair = (a, b);
        self
    }
    pub fn target(mut self, target: Option<Target>) -> Spec {
        self.target = target;
        self
    }
}

impl Report {
    pub fn new(plan: &Plan, command: String) -> Report {
        Report {
            scale: plan.scale_name,
            rounds: plan.rounds,
            command,
            machine: Vec::new(),
            bandwidth: Bandwidth::default(),
            rows: Vec::new(),
            notes: Vec::new(),
            elapsed: Duration::ZERO,
            orthanc_version: String::new(),
            started: chrono::Local::now(),
        }
    }

    fn row(&mut self, spec: Spec) -> &mut Row {
        let i = match self
            .rows
            .iter()
            .position(|r| r.section == spec.section && r.name == spec.name)
        {
            Some(i) => i,
            None => {
                self.rows.push(Row {
                    section: spec.section,
                    name: spec.name,
                    unit: spec.unit,
                    latency: spec.latency,
                    pair: spec.pair,
                    samples: BTreeMap::new(),
                    missing: BTreeMap::new(),
                    target: spec.target,
                    note: spec.note,
                });
                self.rows.len() - 1
            }
        };
        &mut self.rows[i]
    }

    /// Adds samples of `kind` to the row `spec` describes.
    pub fn add(&mut self, spec: Spec, kind: Kind, samples: impl IntoIterator<Item = f64>) {
        self.row(spec)
            .samples
            .entry(kind)
            .or_default()
            .extend(samples);
    }

    /// Records that `kind` has no number for this row, and why.
    pub fn missing(&mut self, spec: Spec, kind: Kind, why: impl Into<String>) {
        self.row(spec).missing.insert(kind, why.into());
    }

    /// The markdown between the markers.
    pub fn render(&self) -> String {
        let mut md = String::new();
        let _ = writeln!(md, "{BEGIN}");
        let _ = writeln!(md, "<!-- Generated by `make bench` (benches/src/report.rs); edits between these markers are lost. -->\n");
        let _ = writeln!(md, "## Results\n");
        let _ = writeln!(
            md,
            "Run of {}, scale `{}`, {} round(s) per workload, {:.1} minutes in all. Command:\n\n```\n{}\n```\n",
            self.started.format("%Y-%m-%d %H:%M"),
            self.scale,
            self.rounds,
            self.elapsed.as_secs_f64() / 60.0,
            self.command
        );
        let _ = writeln!(md, "### Machine\n\n| | |\n|---|---|");
        for (k, v) in &self.machine {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let _ = writeln!(
            md,
            "| Orthanc | {} (Debian package, default SQLite index and filesystem storage) |",
            self.orthanc_version
        );
        let _ = writeln!(
            md,
            "\n### Bandwidth of this machine, measured in the same run\n\n| | |\n|---|---|"
        );
        for (k, v) in self.bandwidth.lines() {
            let _ = writeln!(md, "| {k} | {v} |");
        }
        let mut sections: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !sections.contains(&row.section.as_str()) {
                sections.push(&row.section);
            }
        }
        for section in sections {
            let rows: Vec<&Row> = self.rows.iter().filter(|r| r.section == section).collect();
            let (a, b) = rows[0].pair;
            let _ = writeln!(md, "\n### {section}\n");
            let _ = writeln!(
                md,
                "| Workload | Unit | {} | {} | {} / {} | Target | Notes |",
                a.label(),
                b.label(),
                a.label(),
                b.label()
            );
            let _ = writeln!(md, "|---|---|--:|--:|--:|---|---|");
            for row in rows {
                let ratio = row
                    .ratio()
                    .map(|r| format!("{}x", num(r)))
                    .unwrap_or_else(|| "n/a".into());
                let target = match (row.target, row.target_met()) {
                    (Some(t), met) => format!(
                        "{} {}x{}",
                        if t.at_least { "≥" } else { "≤" },
                        num(t.ratio),
                        match met {
                            Some(true) => " ✅",
                            Some(false) => " ❌",
                            None => "",
                        }
                    ),
                    (None, _) => String::new(),
                };
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {ratio} | {target} | {} |",
                    row.name,
                    row.unit,
                    self.cell(row, a),
                    self.cell(row, b),
                    row.note
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(md, "\n### Notes of this run\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        let _ = writeln!(md, "\n{END}");
        md
    }

    fn cell(&self, row: &Row, kind: Kind) -> String {
        match row.samples.get(&kind).filter(|s| !s.is_empty()) {
            Some(s) if row.latency => {
                format!(
                    "{} (p99 {})",
                    num(percentile(s, 0.5).unwrap_or(0.0)),
                    num(percentile(s, 0.99).unwrap_or(0.0))
                )
            }
            Some(s) => num(percentile(s, 0.5).unwrap_or(0.0)),
            None => match row.missing.get(&kind) {
                Some(why) => format!("n/a ({why})"),
                None => "n/a".into(),
            },
        }
    }

    /// Writes the report to `path`, keeping what an existing file has
    /// outside the markers.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let generated = self.render();
        let existing = std::fs::read_to_string(path).ok();
        let text = match existing
            .as_deref()
            .and_then(|t| Some((t, t.find(BEGIN)?, t.find(END)?)))
        {
            Some((text, begin, end)) if begin < end => {
                let after = &text[end + END.len()..];
                format!("{}{}{}", &text[..begin], generated.trim_end(), after)
            }
            _ => format!("# Benchmarks: Isengard and Orthanc side by side\n\n{generated}"),
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, text)?;
        Ok(())
    }
}

impl Report {
    /// The rows as JSON (medians per server, p99 of latencies, ratio, what is
    /// missing), for tools and for the harness's own test.
    pub fn to_json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .rows
            .iter()
            .map(|row| {
                let side = |kind: Kind| {
                    let samples = row.samples.get(&kind).map(Vec::as_slice).unwrap_or(&[]);
                    serde_json::json!({
                        "server": kind.label(),
                        "median": percentile(samples, 0.5),
                        "p99": if row.latency { percentile(samples, 0.99) } else { None },
                        "samples": samples.len(),
                        "missing": row.missing.get(&kind),
                    })
                };
                serde_json::json!({
                    "section": row.section,
                    "workload": row.name,
                    "unit": row.unit,
                    "first": side(row.pair.0),
                    "second": side(row.pair.1),
                    "ratio": row.ratio(),
                    "target_met": row.target_met(),
                })
            })
            .collect();
        serde_json::json!({ "scale": self.scale, "rounds": self.rounds, "rows": rows })
    }
}

/// A number with three significant digits or so.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else if a >= 0.1 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        assert_eq!(percentile(&[], 0.5), None);
        assert_eq!(percentile(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
        assert_eq!(percentile(&[4.0, 1.0, 2.0, 3.0], 0.5), Some(2.5));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 0.99), Some(99.0));
        assert_eq!(percentile(&[5.0], 0.99), Some(5.0));
    }
}
