//! Where each lint finding is: the object it names and, when that object was read from a
//! manifest file, the line and column of the field it names (else the object's first line).

use std::collections::HashMap;

use netpol_engine::State;
use netpol_engine::lint::Finding;
use netpol_engine::load::{FieldRef, Located, locate};
use netpol_engine::state::ObjectKey;

use crate::input::{Manifest, STDIN};

/// A finding's place.
pub struct Place<'a> {
    /// None when no object of the input has the finding's name.
    pub object: Option<&'a ObjectKey>,
    /// None for objects from the live cluster or standard input, which no file holds.
    pub file: Option<FilePlace>,
}

pub struct FilePlace {
    /// The file as its objects' origins name it (a path as given or found under a directory).
    pub source: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

/// The place of each finding, in order: each file is walked once for all its findings.
pub fn places<'a>(
    findings: &[Finding],
    state: &'a State,
    manifests: &[Manifest],
) -> Vec<Place<'a>> {
    let objects: HashMap<String, (&ObjectKey, &Located)> = state
        .entries()
        .map(|(key, located)| (key.to_string(), (key, located)))
        .collect();
    let texts: HashMap<&str, &str> = manifests
        .iter()
        .filter(|m| m.source != STDIN)
        .map(|m| (m.source.as_str(), m.text.as_str()))
        .collect();
    let found: Vec<Option<(&ObjectKey, &Located)>> = findings
        .iter()
        .map(|f| objects.get(&f.object).copied())
        .collect();
    // Per file, the findings in it and the path of each one's field from its document's root.
    let mut by_file: HashMap<&str, Vec<(usize, String)>> = HashMap::new();
    for (i, (finding, object)) in findings.iter().zip(&found).enumerate() {
        if let Some((_, located)) = object
            && texts.contains_key(located.origin.source.as_str())
        {
            let path = located.origin.field_path(finding.field.as_deref());
            by_file
                .entry(located.origin.source.as_str())
                .or_default()
                .push((i, path));
        }
    }
    let mut places: Vec<Place> = found
        .iter()
        .map(|object| Place {
            object: object.map(|(key, _)| key),
            file: None,
        })
        .collect();
    for (source, wanted) in by_file {
        let refs: Vec<FieldRef> = wanted
            .iter()
            .map(|(i, path)| FieldRef {
                document: found[*i].map_or(1, |(_, located)| located.origin.document),
                path,
            })
            .collect();
        for ((i, _), position) in wanted.iter().zip(locate(texts[source], &refs)) {
            // A text that no longer parses where the reader read it still has the document's
            // first line, from the reader.
            let origin_line = found[*i].and_then(|(_, located)| located.origin.line);
            places[*i].file = Some(FilePlace {
                source: source.to_owned(),
                line: position.map(|p| p.line).or(origin_line),
                column: position.map(|p| p.column),
            });
        }
    }
    places
}
