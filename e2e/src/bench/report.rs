//! Turning benchmark samples into what a person reads: summary statistics (pure), an aligned
//! text table (pure), a box/strip plot as SVG (pure), the machine description (read from /proc)
//! and the results file. Parts hand their samples in; nothing here talks to the testbed.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Context, Error, Result};

/// Nearest-rank percentile of `sorted` (ascending): the smallest value with at least `p` percent
/// of the values at or below it. Always an observed value; `None` for no values.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Summary of one group of samples, milliseconds (nearest-rank percentiles): `u64` outages,
/// or [`SignedSummary`] differences.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<T = u64> {
    /// Number of samples.
    pub n: usize,
    /// Median (p50).
    pub median: T,
    /// 95th percentile.
    pub p95: T,
    /// 99th percentile.
    pub p99: T,
    /// Smallest.
    pub min: T,
    /// Largest.
    pub max: T,
}

/// Summary of signed samples: differences such as a method's outage minus the floor's outage
/// of the same event, which can be below zero.
pub type SignedSummary = Summary<i64>;

impl<T: Copy + Ord + Default> Summary<T> {
    /// Summarises `values` (any order); all zero for none.
    pub fn of(values: &[T]) -> Summary<T> {
        let mut v = values.to_vec();
        v.sort_unstable();
        let p = |q| percentile(&v, q).unwrap_or_default();
        Summary {
            n: v.len(),
            median: p(50.0),
            p95: p(95.0),
            p99: p(99.0),
            min: v.first().copied().unwrap_or_default(),
            max: v.last().copied().unwrap_or_default(),
        }
    }
}

/// Renders rows under headers as a left-aligned first column and right-aligned others.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut width: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < width.len() {
                width[i] = width[i].max(c.len());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = width.get(i).copied().unwrap_or(0);
            if i == 0 {
                s.push_str(&format!("{c:<w$}"));
            } else {
                s.push_str(&format!("  {c:>w$}"));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// One panel of the plot: a title and one labelled group of values per method.
#[derive(Clone, Debug, Default)]
pub struct Panel {
    /// Panel title (the scenario).
    pub title: String,
    /// The y axis' label; empty: "write outage (ms)".
    pub y_label: String,
    /// (label, values in ms) per group, drawn left to right; values may be below zero.
    pub groups: Vec<(String, Vec<i64>)>,
}

/// Round tick values covering `lo..=hi` and 0, about five steps of 1, 2 or 5 × 10^k on the
/// larger side of zero, the same step on the other (pure).
pub fn signed_ticks(lo: i64, hi: i64) -> Vec<i64> {
    let (lo, hi) = (lo.min(0), hi.max(0));
    let span = hi.max(lo.saturating_neg()).max(1) as u64;
    let t = ticks(span);
    let step = t.get(1).copied().unwrap_or(1).max(1) as i64;
    let first = lo.div_euclid(step);
    let last = hi.div_euclid(step) + i64::from(hi.rem_euclid(step) != 0);
    (first..=last.max(first + 1)).map(|i| i * step).collect()
}

/// Round tick values from 0 covering `max` with about five steps of 1, 2 or 5 × 10^k.
pub fn ticks(max: u64) -> Vec<u64> {
    let max = max.max(1);
    let raw = max as f64 / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0) as u64;
    let top = max.div_ceil(step) * step;
    (0..=top / step).map(|i| i * step).collect()
}

const COLORS: [&str; 6] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02",
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A box/strip plot, one panel per scenario with its own y axis (ms, from the lowest value or
/// 0, whichever is lower; labelled by the panel's `y_label`): per group a box
/// from p25 to p75, the median as a thick line, whiskers from min to max and every sample as a
/// dot (spread sideways deterministically so equal values stay visible).
pub fn svg(title: &str, panels: &[Panel]) -> String {
    let (pw, ph, top, left, bottom) = (460.0, 380.0, 60.0, 70.0, 110.0);
    let width = left + panels.len().max(1) as f64 * (pw + left);
    let height = top + ph + bottom;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
        width / 2.0,
        esc(title)
    );
    for (pi, panel) in panels.iter().enumerate() {
        let x0 = left + pi as f64 * (pw + left);
        let all = || panel.groups.iter().flat_map(|g| g.1.iter()).copied();
        let t = signed_ticks(all().min().unwrap_or(0), all().max().unwrap_or(0));
        let ymin = t.first().copied().unwrap_or(0) as f64;
        let ymax = t.last().copied().unwrap_or(1) as f64;
        let yspan = (ymax - ymin).max(1.0);
        let y = |v: i64| top + ph - ((v as f64 - ymin) / yspan) * ph;
        s.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14\">{}</text>\n",
            x0 + pw / 2.0,
            top - 12.0,
            esc(&panel.title)
        ));
        let y_label = if panel.y_label.is_empty() {
            "write outage (ms)"
        } else {
            panel.y_label.as_str()
        };
        s.push_str(&format!(
            "<text transform=\"translate({},{}) rotate(-90)\" text-anchor=\"middle\">{}</text>\n",
            x0 - 50.0,
            top + ph / 2.0,
            esc(y_label)
        ));
        for v in &t {
            // Zero gets a darker line when the axis also has values below it.
            let stroke = if *v == 0 && ymin < 0.0 {
                "#888"
            } else {
                "#ddd"
            };
            s.push_str(&format!(
                "<line x1=\"{x0}\" x2=\"{}\" y1=\"{yy}\" y2=\"{yy}\" stroke=\"{stroke}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v}</text>\n",
                x0 + pw,
                x0 - 6.0,
                y(*v) + 4.0,
                yy = y(*v)
            ));
        }
        s.push_str(&format!(
            "<rect x=\"{x0}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#444\"/>\n"
        ));
        let slot = pw / panel.groups.len().max(1) as f64;
        for (gi, (label, values)) in panel.groups.iter().enumerate() {
            let color = COLORS[gi % COLORS.len()];
            let cx = x0 + slot * (gi as f64 + 0.5);
            let mut v = values.clone();
            v.sort_unstable();
            let bw = (slot * 0.5).min(60.0);
            if let (Some(lo), Some(q1), Some(med), Some(q3), Some(hi)) = (
                v.first().copied(),
                percentile(&v, 25.0),
                percentile(&v, 50.0),
                percentile(&v, 75.0),
                v.last().copied(),
            ) {
                s.push_str(&format!(
                    "<line x1=\"{cx}\" x2=\"{cx}\" y1=\"{}\" y2=\"{}\" stroke=\"{color}\"/>\n<rect x=\"{}\" y=\"{}\" width=\"{bw}\" height=\"{}\" fill=\"{color}\" fill-opacity=\"0.15\" stroke=\"{color}\"/>\n<line x1=\"{}\" x2=\"{}\" y1=\"{ym}\" y2=\"{ym}\" stroke=\"{color}\" stroke-width=\"3\"/>\n",
                    y(lo),
                    y(hi),
                    cx - bw / 2.0,
                    y(q3),
                    (y(q1) - y(q3)).max(1.0),
                    cx - bw / 2.0,
                    cx + bw / 2.0,
                    ym = y(med)
                ));
            }
            for (i, val) in values.iter().enumerate() {
                let jitter = ((i * 37) % 11) as f64 / 10.0 - 0.5;
                s.push_str(&format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\" fill-opacity=\"0.7\"><title>{val} ms</title></circle>\n",
                    cx + jitter * bw * 0.8,
                    y(*val)
                ));
            }
            s.push_str(&format!(
                "<text transform=\"translate({cx},{}) rotate(30)\" font-size=\"11\">{} (n={})</text>\n",
                top + ph + 14.0,
                esc(label),
                values.len()
            ));
        }
    }
    s.push_str(&format!(
        "<text x=\"{left}\" y=\"{}\" font-size=\"11\" fill=\"#555\">box: p25 to p75, thick line: median, whiskers: min to max, dots: every sample (nearest-rank percentiles)</text>\n</svg>\n",
        height - 10.0
    ));
    s
}

/// The machine a benchmark ran on.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// Host name.
    pub hostname: String,
    /// CPU model (`model name` in /proc/cpuinfo).
    pub cpu_model: String,
    /// Online CPUs.
    pub nproc: usize,
    /// MemTotal from /proc/meminfo, MiB.
    pub memory_mib: u64,
    /// Kernel release.
    pub kernel: String,
    /// PRETTY_NAME from /etc/os-release.
    pub os: String,
}

/// The value of `key` in a `key: value` (or `key=value`) text such as /proc/cpuinfo.
pub fn field(text: &str, key: &str, sep: char) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(sep)?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').to_string())
    })
}

impl Machine {
    /// Reads the description from /proc and /etc.
    pub fn detect() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let mem_kib: u64 = field(&read("/proc/meminfo"), "MemTotal", ':')
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or_default();
        Machine {
            hostname: read("/proc/sys/kernel/hostname").trim().to_string(),
            cpu_model: field(&read("/proc/cpuinfo"), "model name", ':').unwrap_or_default(),
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_mib: mem_kib / 1024,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            os: field(&read("/etc/os-release"), "PRETTY_NAME", '=').unwrap_or_default(),
        }
    }
}

/// Everything one `bench` invocation measured; parts it did not run stay absent.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    /// The machine.
    pub machine: Machine,
    /// When the run started (RFC 3339).
    pub started_at: String,
    /// When it finished, or when this checkpoint was written (RFC 3339).
    pub finished_at: String,
    /// Whether the run completed (false for a checkpoint or an interrupted run).
    pub complete: bool,
    /// Failover comparison.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<serde_json::Value>,
    /// Controller scale run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scale: Option<serde_json::Value>,
    /// Node-agent footprint and latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<serde_json::Value>,
}

/// `benchmarks/results/<date>-<host>.json` under `root`.
pub fn default_path(root: &Path, date: &str, host: &str) -> PathBuf {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    root.join("benchmarks/results")
        .join(format!("{date}-{host}.json"))
}

/// Serialises `value` as pretty JSON into `path` (creating its directory).
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).ctx(format!("creating {}", dir.display()))?;
    }
    let json = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(path, json + "\n").ctx(format!("writing {}", path.display()))
}

/// Any serialisable report as a JSON value (for [`Results`]).
pub fn to_value<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| Error::Other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=10).collect();
        for (p, want) in [
            (50.0, 5),
            (95.0, 10),
            (99.0, 10),
            (25.0, 3),
            (75.0, 8),
            (0.0, 1),
        ] {
            assert_eq!(percentile(&v, p), Some(want), "p{p}");
        }
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 95.0), Some(95));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile::<u64>(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.0), Some(7));
    }

    #[test]
    fn summary_sorts_and_summarises() {
        let s = Summary::of(&[300, 100, 200]);
        assert_eq!(
            s,
            Summary {
                n: 3,
                median: 200,
                p95: 300,
                p99: 300,
                min: 100,
                max: 300
            }
        );
        assert_eq!(Summary::<u64>::of(&[]), Summary::default());
    }

    #[test]
    fn ticks_are_round_and_cover_the_maximum() {
        assert_eq!(ticks(5800), vec![0, 2000, 4000, 6000]);
        assert_eq!(ticks(1000), vec![0, 200, 400, 600, 800, 1000]);
        assert_eq!(ticks(23_456), vec![0, 5000, 10000, 15000, 20000, 25000]);
        assert_eq!(ticks(0), vec![0, 1]);
        assert_eq!(ticks(3), vec![0, 1, 2, 3]);
    }

    #[test]
    fn table_aligns_columns() {
        let t = table(
            &["method", "n"],
            &[
                vec!["pgvip".into(), "10".into()],
                vec!["haproxy".into(), "9".into()],
            ],
        );
        assert_eq!(t, "method    n\npgvip    10\nhaproxy   9\n");
    }

    #[test]
    fn svg_draws_every_sample_and_escapes_labels() {
        let p = Panel {
            title: "switchover".into(),
            groups: vec![("a<b".into(), vec![1, 2, 3]), ("c".into(), vec![])],
            ..Default::default()
        };
        let s = svg("t", &[p]);
        assert_eq!(s.matches("<circle").count(), 3);
        assert!(s.contains("a&lt;b (n=3)") && s.contains("c (n=0)"));
        assert!(s.contains(">write outage (ms)</text>"));
        assert!(s.starts_with("<svg") && s.ends_with("</svg>\n"));
    }

    #[test]
    fn svg_draws_values_below_zero_inside_the_panel() {
        let p = Panel {
            title: "excess".into(),
            y_label: "outage − floor (ms)".into(),
            groups: vec![("m".into(), vec![-120, 40, 900])],
        };
        let s = svg("t", &[p]);
        assert!(s.contains(">outage − floor (ms)</text>"));
        assert!(s.contains(">-200</text>") && s.contains(">1000</text>"));
        // Every dot lies within the panel (top 60, height 380).
        for c in s.split("cy=\"").skip(1) {
            let cy: f64 = c
                .split('"')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(-1.0);
            assert!((60.0..=440.0).contains(&cy), "{cy}");
        }
    }

    #[test]
    fn signed_ticks_cover_both_sides_of_zero() {
        assert_eq!(
            signed_ticks(-120, 900),
            vec![-200, 0, 200, 400, 600, 800, 1000]
        );
        assert_eq!(signed_ticks(0, 5800), vec![0, 2000, 4000, 6000]);
        assert_eq!(signed_ticks(300, 5800), vec![0, 2000, 4000, 6000]);
        assert_eq!(signed_ticks(-3000, -100), vec![-3000, -2000, -1000, 0]);
        assert_eq!(signed_ticks(0, 0), vec![0, 1]);
    }

    #[test]
    fn signed_summary_keeps_negative_values() {
        let s = SignedSummary::of(&[40, -120, 900]);
        assert_eq!(
            (s.n, s.median, s.p95, s.min, s.max),
            (3, 40, 900, -120, 900)
        );
        assert_eq!(SignedSummary::of(&[]), SignedSummary::default());
    }

    #[test]
    fn fields_and_paths() {
        let cpu = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\n";
        assert_eq!(
            field(cpu, "model name", ':').as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(
            field("PRETTY_NAME=\"Debian GNU/Linux 12\"\n", "PRETTY_NAME", '=').as_deref(),
            Some("Debian GNU/Linux 12")
        );
        assert_eq!(
            default_path(Path::new("/r"), "2026-11-22", "box.local"),
            PathBuf::from("/r/benchmarks/results/2026-11-22-box_local.json")
        );
    }
}
