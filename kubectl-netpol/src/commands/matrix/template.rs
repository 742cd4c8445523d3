//! `--pod-template NS:LABELS`: a pod that does not exist yet, added to the input as a workload
//! with no pods, so that the engine stands its template for it (no address, no node).

use std::fmt;

use anyhow::{Result, bail};
use netpol_engine::cluster::PodId;
use netpol_engine::model::Pod;
use netpol_engine::selector::Labels;
use netpol_engine::{Engine, State, read_str};

use super::names::label_text;

/// A new pod: its namespace, labels and the workload name that stands for it.
#[derive(Clone, Debug)]
pub struct Template {
    pub namespace: String,
    pub labels: Labels,
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

fn parse(text: &str, default_namespace: &str, index: usize) -> Result<Template> {
    let (namespace, labels) = match text.split_once(':') {
        Some((ns, labels)) if !ns.is_empty() => (ns, labels),
        Some((_, labels)) => (default_namespace, labels),
        None => bail!("--pod-template {text:?}: want NAMESPACE:LABEL=VALUE[,LABEL=VALUE...]"),
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
    Ok(Template {
        namespace: namespace.to_owned(),
        labels: map,
        workload: format!("netpol-new-pod-{index}"),
    })
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
                    "spec": {"containers": [{"name": "new"}]}
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
