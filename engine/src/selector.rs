//! Checked label selectors: parsed once, matched many times.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::api::LabelSelector;

/// Labels of an object, sorted so that equal sets compare and hash equal.
pub type Labels = BTreeMap<String, String>;

/// A validated label selector. The empty selector matches everything.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Selector {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<Requirement>,
}

/// One requirement; `matchLabels` entries become `In` with a single value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "operator", rename_all = "PascalCase")]
pub enum Requirement {
    In { key: String, values: Vec<String> },
    NotIn { key: String, values: Vec<String> },
    Exists { key: String },
    DoesNotExist { key: String },
}

/// Why a selector is invalid; the caller adds object and field ([`SelectorError::field`] says
/// where inside the selector).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    #[error("unknown operator {operator:?} (want In, NotIn, Exists or DoesNotExist)")]
    UnknownOperator { index: usize, operator: String },
    #[error("operator {operator} needs at least one value")]
    MissingValues { index: usize, operator: String },
    #[error("operator {operator} takes no values")]
    UnexpectedValues { index: usize, operator: String },
    #[error("empty key")]
    EmptyKey { index: usize },
}

impl SelectorError {
    /// The field inside the selector, as the API server names it: `matchExpressions[0].operator`.
    pub fn field(&self) -> String {
        let (index, field) = match self {
            Self::UnknownOperator { index, .. } => (index, "operator"),
            Self::MissingValues { index, .. } | Self::UnexpectedValues { index, .. } => {
                (index, "values")
            }
            Self::EmptyKey { index } => (index, "key"),
        };
        format!("matchExpressions[{index}].{field}")
    }
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Self::default()
    }

    /// A selector requiring exactly these labels.
    pub fn from_labels(labels: &Labels) -> Self {
        let requirements = labels
            .iter()
            .map(|(k, v)| Requirement::In {
                key: k.clone(),
                values: vec![v.clone()],
            })
            .collect();
        Self { requirements }
    }

    pub fn matches_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    /// The label keys this selector looks at.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.requirements.iter().map(Requirement::key)
    }
}

impl Requirement {
    pub fn key(&self) -> &str {
        match self {
            Self::In { key, .. }
            | Self::NotIn { key, .. }
            | Self::Exists { key }
            | Self::DoesNotExist { key } => key,
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Self::In { key, values } => labels.get(key).is_some_and(|v| values.contains(v)),
            // NotIn matches objects without the key, as in Kubernetes.
            Self::NotIn { key, values } => labels.get(key).is_none_or(|v| !values.contains(v)),
            Self::Exists { key } => labels.contains_key(key),
            Self::DoesNotExist { key } => !labels.contains_key(key),
        }
    }
}

impl TryFrom<&LabelSelector> for Selector {
    type Error = SelectorError;

    fn try_from(raw: &LabelSelector) -> Result<Self, Self::Error> {
        let mut selector = raw
            .match_labels
            .as_ref()
            .map(Selector::from_labels)
            .unwrap_or_default();
        for (index, expr) in raw.match_expressions.iter().flatten().enumerate() {
            let values = expr.values.clone().unwrap_or_default();
            let operator = expr.operator.clone();
            if expr.key.is_empty() {
                return Err(SelectorError::EmptyKey { index });
            }
            let key = expr.key.clone();
            let requirement = match operator.as_str() {
                "In" | "NotIn" if values.is_empty() => {
                    return Err(SelectorError::MissingValues { index, operator });
                }
                "Exists" | "DoesNotExist" if !values.is_empty() => {
                    return Err(SelectorError::UnexpectedValues { index, operator });
                }
                "In" => Requirement::In { key, values },
                "NotIn" => Requirement::NotIn { key, values },
                "Exists" => Requirement::Exists { key },
                "DoesNotExist" => Requirement::DoesNotExist { key },
                _ => return Err(SelectorError::UnknownOperator { index, operator }),
            };
            selector.requirements.push(requirement);
        }
        Ok(selector)
    }
}

impl TryFrom<&k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector> for Selector {
    type Error = SelectorError;

    fn try_from(
        raw: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    ) -> Result<Self, Self::Error> {
        let converted = LabelSelector {
            match_labels: raw.match_labels.clone(),
            match_expressions: raw.match_expressions.as_ref().map(|exprs| {
                exprs
                    .iter()
                    .map(|e| crate::api::LabelSelectorRequirement {
                        key: e.key.clone(),
                        operator: e.operator.clone(),
                        values: e.values.clone(),
                    })
                    .collect()
            }),
        };
        Selector::try_from(&converted)
    }
}

impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.requirements.is_empty() {
            return f.write_str("<all>");
        }
        let parts: Vec<String> = self
            .requirements
            .iter()
            .map(|r| match r {
                Requirement::In { key, values } if values.len() == 1 => {
                    format!("{key}={}", values[0])
                }
                Requirement::In { key, values } => format!("{key} in ({})", values.join(",")),
                Requirement::NotIn { key, values } => format!("{key} notin ({})", values.join(",")),
                Requirement::Exists { key } => key.clone(),
                Requirement::DoesNotExist { key } => format!("!{key}"),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn matching_table() {
        let app_web = labels(&[("app", "web"), ("tier", "front")]);
        let no_labels = labels(&[]);
        let cases: &[(&str, LabelSelector, &Labels, bool)] = &[
            (
                "empty selector matches all",
                LabelSelector::default(),
                &no_labels,
                true,
            ),
            (
                "matchLabels hit",
                LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    ..Default::default()
                },
                &app_web,
                true,
            ),
            (
                "matchLabels miss",
                LabelSelector {
                    match_labels: Some(labels(&[("app", "db")])),
                    ..Default::default()
                },
                &app_web,
                false,
            ),
            (
                "In hit",
                LabelSelector {
                    match_expressions: Some(vec![expr("app", "In", &["db", "web"])]),
                    ..Default::default()
                },
                &app_web,
                true,
            ),
            (
                "NotIn matches objects without the key",
                LabelSelector {
                    match_expressions: Some(vec![expr("env", "NotIn", &["prod"])]),
                    ..Default::default()
                },
                &app_web,
                true,
            ),
            (
                "NotIn miss",
                LabelSelector {
                    match_expressions: Some(vec![expr("app", "NotIn", &["web"])]),
                    ..Default::default()
                },
                &app_web,
                false,
            ),
            (
                "Exists",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "Exists", &[])]),
                    ..Default::default()
                },
                &app_web,
                true,
            ),
            (
                "DoesNotExist",
                LabelSelector {
                    match_expressions: Some(vec![expr("tier", "DoesNotExist", &[])]),
                    ..Default::default()
                },
                &app_web,
                false,
            ),
            (
                "labels and expressions are ANDed",
                LabelSelector {
                    match_labels: Some(labels(&[("app", "web")])),
                    match_expressions: Some(vec![expr("tier", "In", &["back"])]),
                },
                &app_web,
                false,
            ),
        ];
        for (message, raw, object, want) in cases {
            let selector = Selector::try_from(raw).unwrap();
            assert_eq!(selector.matches(object), *want, "{message}");
        }
    }

    #[test]
    fn invalid_selectors_are_rejected() {
        let cases = [
            (expr("a", "Equals", &["x"]), "unknown operator"),
            (expr("a", "In", &[]), "needs at least one value"),
            (expr("a", "Exists", &["x"]), "takes no values"),
            (expr("", "Exists", &[]), "empty key"),
        ];
        for (e, want) in cases {
            let raw = LabelSelector {
                match_expressions: Some(vec![e]),
                ..Default::default()
            };
            let err = Selector::try_from(&raw).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
    }
}
