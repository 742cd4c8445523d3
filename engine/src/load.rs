//! Reading Kubernetes objects from YAML or JSON text: multi-document streams, `List` kinds and
//! single objects. Every document is accounted for: read, skipped (with its kind), or an error
//! that names the file, the document and the field.

mod json_list;
pub(crate) mod object;
mod origin;
mod position;

pub use object::{Object, ObjectKind, Workload, WorkloadKind, policy_from_json};
pub use origin::Origin;
pub use position::{FieldRef, Position, locate};

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

/// A document that was read but holds a kind netpol does not evaluate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub origin: Origin,
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

/// A document or object that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{origin}{}: {message}", object.as_ref().map(|o| format!(" {o}")).unwrap_or_default())]
pub struct LoadError {
    pub origin: Origin,
    /// `Kind namespace/name`, when the document got that far.
    pub object: Option<String>,
    /// The field path inside the object, when known.
    pub field: Option<String>,
    pub message: String,
}

/// An object with where it came from.
#[derive(Clone, Debug)]
pub struct Located {
    pub origin: Origin,
    pub object: Object,
}

/// Everything read from one or more sources.
#[derive(Clone, Debug, Default)]
pub struct Loaded {
    pub objects: Vec<Located>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<LoadError>,
}

impl Loaded {
    pub fn extend(&mut self, other: Loaded) {
        self.objects.extend(other.objects);
        self.skipped.extend(other.skipped);
        self.errors.extend(other.errors);
    }
}

/// Reads every document of `text`; `source` names it in errors (a path, or `<stdin>`).
/// Objects without a namespace get `default_namespace`, as `kubectl apply` would.
pub fn read_str(source: &str, text: &str, default_namespace: &str) -> Loaded {
    if let Some(loaded) = read_json_text(source, text, default_namespace) {
        return loaded;
    }
    let mut loaded = Loaded::default();
    let starts = origin::document_start_lines(text);
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let origin = Origin::new(source, index + 1, starts.get(index).copied());
        match Value::deserialize(document) {
            Ok(Value::Null) => {}
            Ok(value) => read_value(&origin, value, default_namespace, &mut loaded),
            Err(err) => {
                let line = err.location().map(|l| l.line());
                loaded.errors.push(LoadError {
                    origin: Origin {
                        line: line.or(origin.line),
                        ..origin
                    },
                    object: None,
                    field: None,
                    message: format!("malformed YAML/JSON: {}", strip_location(&err.to_string())),
                });
                // The stream cannot be resynchronised after a syntax error.
                break;
            }
        }
    }
    loaded
}

/// Reads objects that arrive as JSON values (e.g. a page of an API server list), with the same
/// checks and messages as text; `source` and the item index (from `first`, the list index of
/// the first of `items`) name them in errors.
pub fn read_json_values(
    source: &str,
    first: usize,
    items: Vec<serde_json::Value>,
    default_namespace: &str,
) -> Loaded {
    let mut loaded = Loaded::default();
    let list = ListItems {
        origin: &Origin::new(source, 1, None),
        convert: json_to_yaml,
        default_namespace,
    };
    list.read(first, items, &mut loaded);
    loaded
}

fn json_to_yaml(value: serde_json::Value) -> Result<Value, String> {
    serde_yaml_ng::to_value(value).map_err(|err| err.to_string())
}

/// JSON (what `kubectl get -o json` prints) parses several times faster with a JSON parser;
/// anything that is not valid JSON goes through the YAML reader, which also reads JSON.
fn read_json_text(source: &str, text: &str, default_namespace: &str) -> Option<Loaded> {
    if !text.trim_start().starts_with('{') {
        return None;
    }
    let origin = Origin::new(source, 1, Some(1));
    if text.len() >= json_list::STREAMED_FROM
        && let Some(loaded) = json_list::read(&origin, text, default_namespace)
    {
        return Some(loaded);
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let mut loaded = Loaded::default();
    match json_to_yaml(value) {
        Ok(value) => read_value(&origin, value, default_namespace, &mut loaded),
        Err(message) => loaded.errors.push(LoadError {
            origin,
            object: None,
            field: None,
            message,
        }),
    }
    Some(loaded)
}

fn strip_location(message: &str) -> String {
    match message.find(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

fn read_value(origin: &Origin, value: Value, default_namespace: &str, loaded: &mut Loaded) {
    let Value::Mapping(map) = &value else {
        loaded.errors.push(LoadError {
            origin: origin.clone(),
            object: None,
            field: None,
            message: "expected a Kubernetes object (a mapping with apiVersion and kind)".into(),
        });
        return;
    };
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (api_version, kind) = (text("apiVersion"), text("kind"));
    if kind.is_empty() || api_version.is_empty() {
        let missing = if kind.is_empty() {
            "kind"
        } else {
            "apiVersion"
        };
        loaded.errors.push(LoadError {
            origin: origin.clone(),
            object: None,
            field: Some(missing.into()),
            message: format!("missing {missing}"),
        });
        return;
    }
    if is_list(&kind, map.contains_key("items")) {
        read_list(origin, value, default_namespace, loaded);
        return;
    }
    match ObjectKind::from_type(&api_version, &kind) {
        Some(object_kind) => match object::decode(object_kind, value, default_namespace) {
            Ok(object) => loaded.objects.push(Located {
                origin: origin.clone(),
                object,
            }),
            Err(err) => loaded.errors.push(LoadError {
                origin: origin.clone(),
                ..*err
            }),
        },
        None => {
            let metadata = map.get("metadata");
            let field = |k: &str| {
                metadata
                    .and_then(|m| m.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            };
            let name = match (field("namespace"), field("name")) {
                (Some(ns), Some(name)) => format!("{ns}/{name}"),
                (None, Some(name)) => name,
                _ => String::new(),
            };
            loaded.skipped.push(Skipped {
                origin: origin.clone(),
                api_version,
                kind,
                name,
            });
        }
    }
}

/// Lists this long are decoded on all cores: decoding is most of the time spent on a
/// `kubectl get -o yaml` snapshot, and items are independent.
const PARALLEL_LIST: usize = 2048;

/// Whether an object of `kind` is a list of objects: `List`, or a `…List` kind with items
/// (`PodList`, as the API server calls a list of pods).
fn is_list(kind: &str, has_items: bool) -> bool {
    kind == "List" || (kind.ends_with("List") && has_items)
}

fn items_not_a_list(origin: &Origin) -> LoadError {
    LoadError {
        origin: origin.clone(),
        object: None,
        field: Some("items".into()),
        message: "items must be a list".into(),
    }
}

fn read_list(origin: &Origin, value: Value, default_namespace: &str, loaded: &mut Loaded) {
    let items = match value {
        Value::Mapping(mut map) => map.remove("items"),
        _ => None,
    };
    let items = match items {
        None | Some(Value::Null) => return,
        Some(Value::Sequence(items)) => items,
        Some(_) => {
            loaded.errors.push(items_not_a_list(origin));
            return;
        }
    };
    let list = ListItems {
        origin,
        convert: Ok,
        default_namespace,
    };
    list.read(0, items, loaded);
}

/// The items of one list: where they come from and how each becomes a YAML value.
struct ListItems<'a, T> {
    origin: &'a Origin,
    convert: fn(T) -> Result<Value, String>,
    default_namespace: &'a str,
}

impl<T: Send> ListItems<'_, T> {
    /// Reads `items` in order; long lists are split over all cores. `first` is the list index
    /// of the first of `items`.
    fn read(&self, first: usize, items: Vec<T>, loaded: &mut Loaded) {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        if items.len() < PARALLEL_LIST || threads < 2 {
            self.read_in_order(first, items, loaded);
            return;
        }
        let chunk = items.len().div_ceil(threads);
        let mut chunks: Vec<Vec<T>> = Vec::with_capacity(threads);
        let mut items = items.into_iter();
        loop {
            let next: Vec<T> = items.by_ref().take(chunk).collect();
            if next.is_empty() {
                break;
            }
            chunks.push(next);
        }
        let parts: Vec<Loaded> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .into_iter()
                .enumerate()
                .map(|(c, items)| {
                    scope.spawn(move || {
                        let mut part = Loaded::default();
                        self.read_in_order(first + c * chunk, items, &mut part);
                        part
                    })
                })
                .collect();
            handles.into_iter().map(joined).collect()
        });
        for part in parts {
            loaded.extend(part);
        }
    }

    /// [`Self::read`] on the calling thread.
    fn read_in_order(&self, first: usize, items: Vec<T>, loaded: &mut Loaded) {
        for (i, item) in items.into_iter().enumerate() {
            let item_origin = self.origin.item(first + i);
            match (self.convert)(item) {
                Ok(value) => read_value(&item_origin, value, self.default_namespace, loaded),
                Err(message) => loaded.errors.push(LoadError {
                    origin: item_origin,
                    object: None,
                    field: None,
                    message,
                }),
            }
        }
    }
}

/// A reading thread's result; its panic goes on in the caller.
fn joined<T>(handle: std::thread::ScopedJoinHandle<'_, T>) -> T {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

#[cfg(test)]
mod tests;
