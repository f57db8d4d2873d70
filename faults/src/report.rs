//! What a case prints: its figures as they come, each check with ✓ or ✗,
//! and the verdict. Written to stdout as the case goes, so a case that hangs
//! still shows how far it got.

use std::io::Write;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Check {
    pub what: String,
    pub passed: bool,
    pub detail: String,
}

#[derive(Debug)]
pub struct Report {
    pub case: &'static str,
    pub checks: Vec<Check>,
    /// Requests the case's load sent and how many of them failed.
    pub sent: u64,
    pub failed: u64,
    /// What the case sent, for the summary: reads through nginx, or calls
    /// the crawls made to the simulated GitHub.
    pub traffic: String,
    /// Why the case stopped early, when it did.
    pub error: Option<String>,
    pub elapsed: Duration,
}

fn out(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

impl Report {
    pub fn new(case: &'static str, summary: &str) -> Report {
        out(&format!("\n== {case}: {summary}"));
        Report {
            case,
            checks: Vec::new(),
            sent: 0,
            failed: 0,
            traffic: String::new(),
            error: None,
            elapsed: Duration::ZERO,
        }
    }

    /// A figure or a step, as it happens.
    pub fn note(&mut self, text: impl AsRef<str>) {
        out(&format!("   {}", text.as_ref()));
    }

    /// Records a property; the case fails if any check did.
    pub fn check(
        &mut self,
        what: impl Into<String>,
        passed: bool,
        detail: impl Into<String>,
    ) -> bool {
        let check = Check {
            what: what.into(),
            passed,
            detail: detail.into(),
        };
        out(&format!(
            "   {} {}: {}",
            if passed { "✓" } else { "✗" },
            check.what,
            check.detail
        ));
        self.checks.push(check);
        passed
    }

    pub fn passed(&self) -> bool {
        self.error.is_none() && !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    pub fn failures(&self) -> Vec<String> {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.what, c.detail))
            .chain(self.error.iter().map(|e| format!("stopped: {e}")))
            .collect()
    }

    pub fn finish(&mut self, elapsed: Duration, error: Option<String>) {
        self.elapsed = elapsed;
        if let Some(error) = &error {
            out(&format!("   ✗ the case stopped: {error}"));
        }
        self.error = error;
        let checks = self.checks.len();
        let passed = self.checks.iter().filter(|c| c.passed).count();
        out(&format!(
            "   {} {} in {:.1} s ({passed}/{checks} checks)",
            if self.passed() { "PASS" } else { "FAIL" },
            self.case,
            elapsed.as_secs_f64()
        ));
    }
}

/// The table printed after every case ran.
pub fn summary(reports: &[Report]) -> String {
    let mut text = format!(
        "\n{:<16} {:<6} {:>7}  {:<7} {}\n",
        "case", "result", "time", "checks", "traffic"
    );
    for r in reports {
        let passed = r.checks.iter().filter(|c| c.passed).count();
        text.push_str(&format!(
            "{:<16} {:<6} {:>6.1}s  {:<7} {}\n",
            r.case,
            if r.passed() { "PASS" } else { "FAIL" },
            r.elapsed.as_secs_f64(),
            format!("{passed}/{}", r.checks.len()),
            r.traffic
        ));
    }
    text
}

pub fn print(text: &str) {
    out(text);
}
