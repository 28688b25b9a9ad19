//! The metric names the binaries export, read from their sources: every
//! `registry.register("name", "help", metric)` in a crate, with the crate's
//! `Registry::with_prefix("…")`, and the type of `metric` (Counter, Gauge or Histogram) from its
//! declaration. Names are those of the text exposition: counters gain `_total`, histograms are
//! `_bucket`, `_sum` and `_count`.
//!
//! A registration this scanner cannot read (a name that is not a string literal, a unit, a
//! sub-registry, a metric whose type it cannot find) is an error, so that a change in how the
//! code registers metrics fails the check instead of letting it pass on a partial list.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Source directories of the binaries that serve `/metrics`.
pub const SOURCE_DIRS: &[&str] = &["controller/src", "node-agent/src"];

/// Every exported metric name of every crate in [`SOURCE_DIRS`].
pub fn exported_names(repo: &Path) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for dir in SOURCE_DIRS {
        out.extend(crate_names(&repo.join(dir))?);
    }
    Ok(out)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries {
        let p = e.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        if p.is_dir() {
            rust_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    Ok(())
}

fn crate_names(dir: &Path) -> Result<BTreeSet<String>, String> {
    let mut files = vec![];
    rust_files(dir, &mut files)?;
    let mut prefixes = BTreeSet::new();
    let mut registered = vec![];
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for bad in ["sub_registry", "register_with_unit", "register_collector"] {
            if text.contains(bad) {
                return Err(format!(
                    "{}: `{bad}` is not understood by this scanner",
                    f.display()
                ));
            }
        }
        for (i, _) in text.match_indices("Registry::with_prefix(") {
            let (p, _) = string_literal(&text[i + "Registry::with_prefix(".len()..])
                .ok_or_else(|| format!("{}: with_prefix without a literal", f.display()))?;
            prefixes.insert(p);
        }
        for (i, _) in text.match_indices(".register(") {
            let args = &text[i + ".register(".len()..];
            // `Metrics::default().register(&mut registry)` and the like: not a registry call.
            let Some((name, rest)) = string_literal(args) else {
                continue;
            };
            let rest = rest.trim_start().strip_prefix(',').ok_or_else(|| {
                format!("{}: register({name:?}) without a help text", f.display())
            })?;
            let (_, rest) = string_literal(rest).ok_or_else(|| {
                format!("{}: register({name:?}): help is not a literal", f.display())
            })?;
            let metric = rest
                .trim_start()
                .strip_prefix(',')
                .map(last_argument)
                .ok_or_else(|| format!("{}: register({name:?}) without a metric", f.display()))?;
            let kind = kind_of(&text, metric)
                .map_err(|e| format!("{}: register({name:?}): {e}", f.display()))?;
            registered.push((name, kind));
        }
    }
    let prefix = match prefixes.len() {
        1 => prefixes.into_iter().next().unwrap_or_default(),
        _ => {
            return Err(format!(
                "{}: expected one Registry::with_prefix, found {prefixes:?}",
                dir.display()
            ))
        }
    };
    if registered.is_empty() {
        return Err(format!("{}: no metric registrations found", dir.display()));
    }
    let mut out = BTreeSet::new();
    for (name, kind) in registered {
        let base = format!("{prefix}_{name}");
        match kind {
            Kind::Counter => {
                out.insert(format!("{base}_total"));
            }
            Kind::Gauge => {
                out.insert(base);
            }
            Kind::Histogram => {
                for s in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{base}{s}"));
                }
            }
        }
    }
    Ok(out)
}

/// A Rust string literal at the start of `s` (after whitespace): its value and the rest.
fn string_literal(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start().strip_prefix('"')?;
    let mut value = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &s[i + 1..])),
            '\\' => value.push(chars.next()?.1),
            c => value.push(c),
        }
    }
    None
}

/// The argument at the start of `s`, up to the `,` or `)` that closes the call.
fn last_argument(s: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth > 0 => depth -= 1,
            ')' | ',' if depth == 0 => return s[..i].trim(),
            _ => {}
        }
    }
    s.trim()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

fn kinds_in(text: &str) -> BTreeSet<&'static str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter_map(|w| match w {
            "Counter" => Some("Counter"),
            "Gauge" => Some("Gauge"),
            "Histogram" => Some("Histogram"),
            _ => None,
        })
        .collect()
}

/// The type of the metric expression `metric` (`self.x.clone()`, `x.clone()` or an inline
/// constructor), from the declarations of `x` in `file`: struct fields, struct literals and
/// `let` bindings.
fn kind_of(file: &str, metric: &str) -> Result<Kind, String> {
    let mut kinds = kinds_in(metric);
    if kinds.is_empty() {
        let ident = metric
            .trim_end_matches(".clone()")
            .rsplit('.')
            .next()
            .unwrap_or(metric);
        for line in file.lines() {
            let t = line.trim_start();
            let t = t.strip_prefix("pub ").unwrap_or(t);
            let decl = t
                .strip_prefix(ident)
                .is_some_and(|r| r.starts_with(':') && !r.starts_with("::"))
                || t.strip_prefix("let ")
                    .map(|r| r.strip_prefix("mut ").unwrap_or(r))
                    .and_then(|r| r.strip_prefix(ident))
                    .is_some_and(|r| r.trim_start().starts_with('='));
            if decl {
                kinds.extend(kinds_in(t));
            }
        }
    }
    let kinds: Vec<_> = kinds.into_iter().collect();
    match kinds.as_slice() {
        ["Counter"] => Ok(Kind::Counter),
        ["Gauge"] => Ok(Kind::Gauge),
        ["Histogram"] => Ok(Kind::Histogram),
        other => Err(format!(
            "cannot tell the type of `{metric}` (found {other:?})"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_come_from_the_declarations() {
        let src = "struct M {\n    pub a: Family<L, Counter>,\n    b: Gauge,\n}\n\
                   fn f() {\n    let c = Histogram::new(x());\n}\n";
        assert_eq!(kind_of(src, "self.a.clone()"), Ok(Kind::Counter));
        assert_eq!(kind_of(src, "self.b.clone()"), Ok(Kind::Gauge));
        assert_eq!(kind_of(src, "c.clone()"), Ok(Kind::Histogram));
        assert_eq!(kind_of(src, "Counter::default()"), Ok(Kind::Counter));
        assert!(kind_of(src, "self.d.clone()").is_err());
    }

    #[test]
    fn string_literals_keep_commas_and_escapes() {
        assert_eq!(
            string_literal(r#" "a (b, c) \"d\"", rest"#),
            Some((r#"a (b, c) "d""#.to_string(), ", rest"))
        );
        assert_eq!(string_literal("&mut registry)"), None);
        assert_eq!(last_argument(" self.a.clone(),\n    );"), "self.a.clone()");
        assert_eq!(last_argument(" f(g(1), 2))"), "f(g(1), 2)");
    }
}
