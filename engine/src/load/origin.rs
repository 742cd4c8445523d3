//! Where an object came from: file, document number, list item and line.

use serde::Serialize;

#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Origin {
    /// A path, or `<stdin>`, or another name the caller chose.
    pub source: String,
    /// 1-based document number in a multi-document stream.
    pub document: usize,
    /// 0-based index inside a `List`, when the object came from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item: Option<usize>,
    /// 1-based line where the document (or the error) starts, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

impl Origin {
    pub fn new(source: &str, document: usize, line: Option<usize>) -> Self {
        Self {
            source: source.to_owned(),
            document,
            item: None,
            line,
        }
    }

    /// The path of `field` of this object (of the object itself for None) from the root of
    /// its document, as [`super::locate`] takes it: under `items[i]` for an item of a `List`.
    pub fn field_path(&self, field: Option<&str>) -> String {
        match (self.item, field.filter(|f| !f.is_empty())) {
            (None, field) => field.unwrap_or_default().to_owned(),
            (Some(item), None) => format!("items[{item}]"),
            (Some(item), Some(field)) => format!("items[{item}].{field}"),
        }
    }

    pub(super) fn item(&self, index: usize) -> Self {
        Self {
            item: Some(index),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, " (document {}", self.document)?;
        if let Some(item) = self.item {
            write!(f, ", items[{item}]")?;
        }
        f.write_str(")")
    }
}

/// The first line of each YAML document, for messages: a stream starts at line 1, and each
/// `---` separator starts a new document on the following line.
pub(super) fn document_start_lines(text: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut content_seen = false;
    let mut current_start = 1;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") {
            if content_seen || !starts.is_empty() {
                starts.push(current_start);
            }
            content_seen = false;
            current_start = i + 2;
        } else if !trimmed.is_empty() && !trimmed.starts_with('#') {
            if !content_seen && current_start <= i {
                current_start = i + 1;
            }
            content_seen = true;
        }
    }
    if content_seen {
        starts.push(current_start);
    }
    starts
}
