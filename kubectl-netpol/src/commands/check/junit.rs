//! JUnit XML, the test report CI systems read: one suite for a run of `check`, one test case
//! per flow; a verdict against its expectation is a failure, a flow that could not be
//! evaluated an error.

use std::time::Duration;

use crate::xml::Xml;

pub struct Suite {
    pub name: String,
    pub cases: Vec<Case>,
}

pub struct Case {
    pub name: String,
    pub classname: String,
    /// Where the flow is written, for CI systems that annotate the file.
    pub file: Option<String>,
    pub line: Option<usize>,
    pub time: Duration,
    pub outcome: Outcome,
}

pub enum Outcome {
    Passed,
    /// `message` is one line; `text` the whole story (the walkthrough).
    Failed {
        message: String,
        text: String,
    },
    Error {
        kind: &'static str,
        message: String,
        text: String,
    },
}

impl Suite {
    fn count(&self, which: fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| which(&c.outcome)).count()
    }

    fn time(&self) -> Duration {
        self.cases.iter().map(|c| c.time).sum()
    }
}

/// The suite as a `<testsuites>` document.
pub fn render(suite: &Suite) -> String {
    let tests = suite.cases.len().to_string();
    let failures = suite
        .count(|o| matches!(o, Outcome::Failed { .. }))
        .to_string();
    let errors = suite
        .count(|o| matches!(o, Outcome::Error { .. }))
        .to_string();
    let time = seconds(suite.time());
    let mut xml = Xml::new();
    xml.open(
        "testsuites",
        &[
            ("name", "kubectl netpol check"),
            ("tests", &tests),
            ("failures", &failures),
            ("errors", &errors),
            ("time", &time),
        ],
    );
    xml.open(
        "testsuite",
        &[
            ("name", &suite.name),
            ("tests", &tests),
            ("failures", &failures),
            ("errors", &errors),
            ("skipped", "0"),
            ("time", &time),
        ],
    );
    for case in &suite.cases {
        let line = case.line.map(|l| l.to_string());
        let time = seconds(case.time);
        let mut attributes = vec![
            ("name", case.name.as_str()),
            ("classname", case.classname.as_str()),
        ];
        if let Some(file) = &case.file {
            attributes.push(("file", file));
        }
        if let Some(line) = &line {
            attributes.push(("line", line));
        }
        attributes.push(("time", &time));
        match &case.outcome {
            Outcome::Passed => xml.empty("testcase", &attributes),
            Outcome::Failed { message, text } => {
                xml.open("testcase", &attributes);
                let message = one_line(message);
                xml.text(
                    "failure",
                    &[("message", &message), ("type", "mismatch")],
                    text,
                );
                xml.close();
            }
            Outcome::Error {
                kind,
                message,
                text,
            } => {
                xml.open("testcase", &attributes);
                let message = one_line(message);
                xml.text("error", &[("message", &message), ("type", kind)], text);
                xml.close();
            }
        }
    }
    xml.finish()
}

/// JUnit times are decimal seconds.
fn seconds(time: Duration) -> String {
    format!("{:.3}", time.as_secs_f64())
}

/// Report viewers show the message attribute as a title: its lines joined.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
