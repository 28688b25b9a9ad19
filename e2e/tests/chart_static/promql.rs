//! PromQL as the checks need it: parse an expression with `promql-parser` and list the metric
//! names its selectors read.

use std::collections::BTreeSet;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};
use promql_parser::util::{walk_expr, ExprVisitor};

/// Metric names Prometheus itself writes for every scrape target (not exported by pgvip).
pub const SCRAPE_METRICS: &[&str] = &["up"];

struct Names(BTreeSet<String>);

impl Names {
    fn selector(&mut self, vs: &VectorSelector) -> Result<(), String> {
        let by_matcher = vs
            .matchers
            .matchers
            .iter()
            .find(|m| m.name == "__name__" && matches!(m.op, MatchOp::Equal))
            .map(|m| m.value.clone());
        match vs.name.clone().or(by_matcher) {
            Some(n) => {
                self.0.insert(n);
                Ok(())
            }
            None => Err(format!("a selector without one metric name: {vs}")),
        }
    }
}

impl ExprVisitor for Names {
    type Error = String;

    fn pre_visit(&mut self, e: &Expr) -> Result<bool, String> {
        match e {
            Expr::VectorSelector(vs) => self.selector(vs)?,
            Expr::MatrixSelector(ms) => self.selector(&ms.vs)?,
            _ => {}
        }
        Ok(true)
    }
}

/// The metric names `expr` reads; an error when it does not parse or a selector names no
/// single metric.
pub fn metric_names(expr: &str) -> Result<BTreeSet<String>, String> {
    let ast = parser::parse(expr)?;
    let mut names = Names(BTreeSet::new());
    walk_expr(&mut names, &ast)?;
    Ok(names.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_every_selector() {
        let n = metric_names(
            r#"sum(rate(a_total{x="1"}[5m])) / on (i) b and {__name__="c"} or absent(up)"#,
        )
        .unwrap();
        assert_eq!(
            n.into_iter().collect::<Vec<_>>(),
            vec!["a_total", "b", "c", "up"]
        );
        assert!(metric_names("sum(rate(a[5m])").is_err());
        assert!(metric_names(r#"{__name__=~"a|b"}"#).is_err());
    }
}
