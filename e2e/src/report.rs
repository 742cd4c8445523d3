//! The suite's results: one line per check as it finishes, a count at the end.

use std::fmt::Display;

#[derive(Debug, Default)]
pub struct Report {
    passed: usize,
    failed: Vec<String>,
}

impl Report {
    /// Records a check; `Err` carries why it failed.
    pub fn record<E: Display>(&mut self, name: &str, result: Result<(), E>) {
        match result {
            Ok(()) => {
                self.passed += 1;
                println!("ok    {name}");
            }
            Err(why) => {
                println!("FAIL  {name}: {why:#}");
                self.failed.push(name.to_owned());
            }
        }
    }

    pub fn failed(&self) -> &[String] {
        &self.failed
    }

    /// The closing line: `netpol-e2e: N passed, M failed`.
    pub fn summary(&self) -> String {
        format!(
            "netpol-e2e: {} passed, {} failed",
            self.passed,
            self.failed.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        let mut report = Report::default();
        report.record::<String>("one", Ok(()));
        report.record("two", Err("no"));
        assert_eq!(report.summary(), "netpol-e2e: 1 passed, 1 failed");
        assert_eq!(report.failed(), ["two"]);
    }
}
