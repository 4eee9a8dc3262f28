//! The three output formats of `authz test`: a text table, one JSON
//! document, and JUnit XML (the format CI servers read test reports in).

use std::io::{self, Write};
use std::path::PathBuf;

use serde_json::{json, Value};

use super::run::CaseResult;

/// One suite file's results.
#[derive(Debug, Clone)]
pub struct SuiteReport {
    /// The suite file.
    pub path: PathBuf,
    /// Its cases' results (the filtered ones).
    pub cases: Vec<CaseResult>,
}

impl SuiteReport {
    /// Cases that did not pass.
    pub fn failed(&self) -> usize {
        self.cases.iter().filter(|case| !case.passed()).count()
    }
}

/// Cases run and cases failed, over all suites.
pub fn totals(reports: &[SuiteReport]) -> (usize, usize) {
    reports.iter().fold((0, 0), |(total, failed), report| {
        (total + report.cases.len(), failed + report.failed())
    })
}

/// A table per suite, with a `decided by` line under each case when
/// `explain`, and the totals.
pub fn text(out: &mut impl Write, reports: &[SuiteReport], explain: bool) -> io::Result<()> {
    for report in reports {
        let results = &report.cases;
        writeln!(out, "{}", report.path.display())?;
        let width = |column: fn(&CaseResult) -> &str, header: &str| {
            results
                .iter()
                .map(|r| column(r).len())
                .max()
                .unwrap_or(0)
                .max(header.len())
        };
        let name_width = width(|r| &r.name, "case");
        let expected_width = width(|r| &r.expected, "expected");
        let got_width = width(|r| &r.got, "got");
        writeln!(
            out,
            "  {:<6}  {:<name_width$}  {:<expected_width$}  {:<got_width$}  detail",
            "result", "case", "expected", "got"
        )?;
        for result in results {
            let status = if result.passed() { "ok" } else { "FAIL" };
            let row = format!(
                "  {status:<6}  {:<name_width$}  {:<expected_width$}  {:<got_width$}  {}",
                result.name,
                result.expected,
                result.got,
                result.mismatches.join("; ")
            );
            writeln!(out, "{}", row.trim_end())?;
            if explain {
                writeln!(out, "          decided by: {}", result.decided_by)?;
            }
        }
    }
    let (total, failed) = totals(reports);
    writeln!(out, "{} passed, {failed} failed", total - failed)
}

/// One JSON document: totals, and each suite's cases (with `decided_by` when `explain`).
pub fn json(out: &mut impl Write, reports: &[SuiteReport], explain: bool) -> io::Result<()> {
    let (total, failed) = totals(reports);
    let suites: Vec<Value> = reports
        .iter()
        .map(|report| {
            let cases: Vec<Value> = report
                .cases
                .iter()
                .map(|case| {
                    let mut value = json!({
                        "name": case.name,
                        "passed": case.passed(),
                        "expected": case.expected,
                        "got": case.got,
                        "mismatches": case.mismatches,
                    });
                    if explain {
                        value["decided_by"] = json!(case.decided_by);
                    }
                    value
                })
                .collect();
            json!({
                "path": report.path.display().to_string(),
                "tests": report.cases.len(),
                "failures": report.failed(),
                "cases": cases,
            })
        })
        .collect();
    let document = json!({
        "tests": total,
        "passed": total - failed,
        "failures": failed,
        "suites": suites,
    });
    writeln!(out, "{document}")
}

/// JUnit XML: a `<testsuite>` per suite file and a `<testcase>` per case; a
/// failed case has a `<failure>`; with `explain`, what decided each case is
/// in its `<system-out>`.
pub fn junit(out: &mut impl Write, reports: &[SuiteReport], explain: bool) -> io::Result<()> {
    let (total, failed) = totals(reports);
    writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#)?;
    writeln!(
        out,
        r#"<testsuites name="authz test" tests="{total}" failures="{failed}" errors="0">"#
    )?;
    for report in reports {
        let suite = xml(&report.path.display().to_string());
        writeln!(
            out,
            r#"  <testsuite name="{suite}" tests="{}" failures="{}" errors="0">"#,
            report.cases.len(),
            report.failed()
        )?;
        for case in &report.cases {
            writeln!(
                out,
                r#"    <testcase classname="{suite}" name="{}">"#,
                xml(&case.name)
            )?;
            if !case.passed() {
                let message = xml(&case.mismatches.join("; "));
                writeln!(
                    out,
                    r#"      <failure type="mismatch" message="{message}">expected {}, got {}: {message}</failure>"#,
                    xml(&case.expected),
                    xml(&case.got)
                )?;
            }
            if explain {
                writeln!(
                    out,
                    "      <system-out>decided by: {}</system-out>",
                    xml(&case.decided_by.to_string())
                )?;
            }
            writeln!(out, "    </testcase>")?;
        }
        writeln!(out, "  </testsuite>")?;
    }
    writeln!(out, "</testsuites>")
}

/// `text` escaped for XML text and attribute values; characters XML 1.0
/// cannot carry at all become U+FFFD.
fn xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' | '\n' | '\r' => escaped.push_str(&format!("&#{};", c as u32)),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_what_xml_cannot_carry() {
        assert_eq!(
            xml(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(xml("x\u{0}y\nz"), "x\u{FFFD}y&#10;z");
    }
}
