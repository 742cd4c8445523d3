//! `--pod-template NS:LABELS[:PORTS]`: a pod that does not exist yet, added to the input as a
//! workload with no pods, so that the engine stands its template for it (no address, no node).
//! Its container ports matter: a rule naming a port (`port: http`) admits only pods that
//! declare a container port of that name.

use std::fmt;

use anyhow::{Result, bail};
use netpol_engine::cluster::PodId;
use netpol_engine::compile::port_name;
use netpol_engine::model::Pod;
use netpol_engine::selector::Labels;
use netpol_engine::{Engine, Protocol, State, read_str};

use super::names::label_text;

/// A new pod: its namespace, labels and the workload name that stands for it.
#[derive(Clone, Debug)]
pub struct Template {
    pub namespace: String,
    pub labels: Labels,
    /// Container ports as the pod spec writes them.
    ports: Vec<serde_json::Value>,
    workload: String,
}

impl Template {
    /// Whether the engine's pod is this template's.
    pub fn is(&self, pod: &Pod) -> bool {
        pod.template
            && pod.namespace == self.namespace
            && pod
                .workload
                .as_ref()
                .is_some_and(|w| w.name == self.workload)
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "new pod {}", label_text(&self.labels))
    }
}

const SYNTAX: &str = "NAMESPACE:LABEL=VALUE[,LABEL=VALUE...][:[NAME=]PORT[/PROTOCOL],...]";

fn parse(text: &str, default_namespace: &str, index: usize) -> Result<Template> {
    let mut parts = text.splitn(3, ':');
    let (namespace, labels, ports) = match (parts.next(), parts.next(), parts.next()) {
        (Some(ns), Some(labels), ports) => (
            if ns.is_empty() { default_namespace } else { ns },
            labels,
            ports.unwrap_or_default(),
        ),
        _ => bail!("--pod-template {text:?}: want {SYNTAX}"),
    };
    let mut map = Labels::new();
    for pair in labels.split(',').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--pod-template {text:?}: label {pair:?} is not KEY=VALUE");
        };
        if key.is_empty() {
            bail!("--pod-template {text:?}: label {pair:?} has no key");
        }
        map.insert(key.to_owned(), value.to_owned());
    }
    let ports = ports
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| container_port(p).map_err(|why| anyhow::anyhow!("--pod-template {text:?}: {why}")))
        .collect::<Result<_>>()?;
    Ok(Template {
        namespace: namespace.to_owned(),
        labels: map,
        ports,
        workload: format!("netpol-new-pod-{index}"),
    })
}

/// `[NAME=]PORT[/PROTOCOL]` as a container port.
fn container_port(text: &str) -> std::result::Result<serde_json::Value, String> {
    let (name, rest) = match text.split_once('=') {
        Some((name, rest)) => {
            port_name(name).map_err(|why| format!("port {text:?}: {why}"))?;
            (Some(name), rest)
        }
        None => (None, text),
    };
    let (number, protocol) = match rest.split_once('/') {
        Some((number, protocol)) => match Protocol::parse(protocol) {
            Some(p) => (number, p),
            None => {
                return Err(format!(
                    "port {text:?}: protocol {protocol:?}: want TCP, UDP or SCTP"
                ));
            }
        },
        None => (rest, Protocol::Tcp),
    };
    let number: u16 = match number.parse() {
        Ok(n) if n > 0 => n,
        _ => {
            return Err(format!(
                "port {text:?}: want [NAME=]PORT[/PROTOCOL] with PORT 1-65535"
            ));
        }
    };
    let mut port = serde_json::json!({"containerPort": number, "protocol": protocol.as_str()});
    if let Some(name) = name {
        port["name"] = name.into();
    }
    Ok(port)
}

/// Adds each template to the state as a Deployment without pods.
pub fn add(state: &mut State, texts: &[String], default_namespace: &str) -> Result<Vec<Template>> {
    let mut templates = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let template = parse(text, default_namespace, i + 1)?;
        let labels = serde_json::to_value(&template.labels)?;
        let object = serde_json::json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": template.workload, "namespace": template.namespace},
            "spec": {
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "new", "ports": template.ports}]}
                }
            }
        });
        let loaded = read_str("--pod-template", &object.to_string(), default_namespace);
        if let Some(error) = loaded.errors.first() {
            bail!("--pod-template {text:?}: {error}");
        }
        for located in loaded.objects {
            state.apply(located);
        }
        templates.push(template);
    }
    Ok(templates)
}

/// The engine's pods standing for the templates; each template's namespace must exist.
pub fn pods(engine: &Engine, templates: &[Template]) -> Result<Vec<PodId>> {
    templates
        .iter()
        .map(|t| {
            if engine.cluster.namespace(&t.namespace).is_none() {
                bail!(
                    "--pod-template: no namespace {:?} in the input (namespace selectors need its labels)",
                    t.namespace
                );
            }
            let found = (0..engine.cluster.pods.len() as PodId)
                .find(|id| t.is(engine.cluster.pod(*id)));
            match found {
                Some(id) => Ok(id),
                None => bail!("--pod-template: {t} did not become a pod template"),
            }
        })
        .collect()
}
