//! Scenario files (`e2e/scenarios/*.yaml`): policies to apply, ports to probe between every
//! pair of probe pods, and verdicts the author states. A new case is a new file.

use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

use crate::matrix::{Flow, Matrix, Protocol, Verdict};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// The file name without `.yaml`.
    #[serde(skip)]
    pub name: String,
    pub description: String,
    /// Objects applied before probing and deleted after (any kinds `kubectl apply` takes).
    #[serde(default)]
    pub policies: Vec<Value>,
    /// Ports probed from every probe pod to every probe pod.
    #[serde(default = "default_probes")]
    pub probes: Vec<Probe>,
    /// Verdicts the author states; the plugin must agree with them (and the probes with it).
    #[serde(default)]
    pub expect: Vec<Expectation>,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub port: u16,
    #[serde(default = "tcp")]
    pub protocol: Protocol,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub from: String,
    pub to: String,
    pub port: u16,
    #[serde(default = "tcp")]
    pub protocol: Protocol,
    pub verdict: Verdict,
}

fn tcp() -> Protocol {
    Protocol::Tcp
}

fn default_probes() -> Vec<Probe> {
    vec![Probe {
        port: 80,
        protocol: Protocol::Tcp,
    }]
}

impl Scenario {
    pub fn parse(name: &str, text: &str) -> Result<Self> {
        let mut scenario: Scenario =
            serde_yaml_ng::from_str(text).with_context(|| format!("scenario {name}"))?;
        scenario.name = name.to_owned();
        for probe in &scenario.probes {
            if !crate::probe::SERVED.contains(&(probe.port, probe.protocol)) {
                bail!(
                    "scenario {name}: the probe pods serve {:?}, not {}/{:?}",
                    crate::probe::SERVED,
                    probe.port,
                    probe.protocol
                );
            }
        }
        Ok(scenario)
    }

    /// Every scenario of a directory, by file name.
    pub fn load_dir(dir: &Path) -> Result<Vec<Self>> {
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|path| {
                let name = path.file_stem().unwrap_or_default().to_string_lossy();
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Self::parse(&name, &text)
            })
            .collect()
    }

    /// The flows to probe: every ordered pair of `pods` on every probed port.
    pub fn flows(&self, pods: &[String]) -> Vec<Flow> {
        let mut flows = Vec::new();
        for probe in &self.probes {
            for from in pods {
                for to in pods {
                    flows.push(Flow {
                        from: from.clone(),
                        to: to.clone(),
                        port: probe.port,
                        protocol: probe.protocol,
                    });
                }
            }
        }
        flows
    }

    /// Fails, naming the first, when `verdicts` (the plugin's) differ from a stated expectation.
    pub fn agrees_with(&self, verdicts: &Matrix) -> Result<()> {
        for stated in &self.expect {
            let flow = stated.flow();
            if verdicts.get(&flow) != Some(&stated.verdict) {
                bail!(
                    "the plugin says {:?} for {flow:?}, the scenario {:?}",
                    verdicts.get(&flow),
                    stated.verdict
                );
            }
        }
        Ok(())
    }
}

impl Expectation {
    /// The flow the expectation is about.
    pub fn flow(&self) -> Flow {
        Flow {
            from: self.from.clone(),
            to: self.to.clone(),
            port: self.port,
            protocol: self.protocol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scenario_file_parses_and_states_only_probed_flows() {
        let scenarios = Scenario::load_dir(&crate::repo_root().join("e2e/scenarios")).unwrap();
        assert!(scenarios.len() >= 4, "{} scenarios", scenarios.len());
        let pods = crate::probe::pod_names();
        for scenario in &scenarios {
            let flows = scenario.flows(&pods);
            for e in &scenario.expect {
                let flow = e.flow();
                assert!(
                    flows.contains(&flow),
                    "{}: {flow:?} is stated but not probed",
                    scenario.name
                );
            }
        }
    }

    #[test]
    fn parse_cases() {
        let cases = [
            ("defaults: 80/TCP", "description: d\n", Ok(1)),
            (
                "two ports",
                "description: d\nprobes: [{port: 80}, {port: 80, protocol: UDP}]\n",
                Ok(2),
            ),
            (
                "a port the pods do not serve",
                "description: d\nprobes: [{port: 8080}]\n",
                Err("not 8080/Tcp"),
            ),
            (
                "a typo",
                "description: d\nprobe: []\n",
                Err("unknown field"),
            ),
        ];
        for (what, text, want) in cases {
            match (Scenario::parse("t", text), want) {
                (Ok(s), Ok(n)) => assert_eq!(s.probes.len(), n, "{what}"),
                (Err(err), Err(text)) => {
                    assert!(format!("{err:#}").contains(text), "{what}: {err:#}")
                }
                (got, _) => panic!("{what}: {got:?}"),
            }
        }
    }
}
