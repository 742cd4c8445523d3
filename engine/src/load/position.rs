//! Where a field of an object is in the text it was read from: the line and column of
//! `spec.ingress[0].from[1].ipBlock.cidr` in a manifest, for reports that point into files
//! (SARIF). The reader keeps no positions, since a snapshot of thousands of pods would pay for
//! every node of every pod; this walks the text again, once for all the fields asked for, and
//! follows only the branches that lead to them.

use std::collections::{HashMap, HashSet};

use granit_parser::{Event, Parser, Span};

/// A place in a text: 1-based line and 1-based column, the column counted in characters
/// (Unicode scalar values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// A field to find: the 1-based document it is in (as [`super::Origin::document`]) and its path
/// from the document's root, as the engine writes field paths (`items[3].spec.ingress[0]`,
/// `[2]` for an entry of a top-level list, empty for the root itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldRef<'a> {
    pub document: usize,
    pub path: &'a str,
}

/// The position of each field of `wanted` in `text`: the field's key for a mapping entry, the
/// entry itself for a list entry. A path the text does not hold in full gets the position of
/// its longest prefix that it holds (at worst the document's root), so a finding about a field
/// that was left out points at the object that lacks it. None when the document is not in
/// the text, or the text stops parsing before the root of that document.
pub fn locate(text: &str, wanted: &[FieldRef<'_>]) -> Vec<Option<Position>> {
    let mut prefixes: HashMap<usize, HashSet<&str>> = HashMap::new();
    for field in wanted {
        prefixes
            .entry(field.document)
            .or_default()
            .extend(path_prefixes(field.path));
    }
    let found = walk(text, &prefixes);
    wanted
        .iter()
        .map(|field| {
            // Longest first: the full path, then shorter and shorter prefixes.
            path_prefixes(field.path)
                .rev()
                .find_map(|prefix| found.get(&(field.document, prefix.to_owned())).copied())
        })
        .collect()
}

/// Every prefix of a field path that names a node, shortest first: the root (empty), then up
/// to each `.` and `[`, then the path itself. A key that holds a dot (a label key) yields a
/// prefix that names no node, which is harmless: it is never found.
fn path_prefixes(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    let cuts = path
        .char_indices()
        .filter(|&(i, c)| i > 0 && (c == '.' || c == '['))
        .map(|(i, _)| i);
    std::iter::once(0)
        .chain(cuts)
        .chain((!path.is_empty()).then_some(path.len()))
        .map(move |end| &path[..end])
}

/// An open collection while walking: its path when it leads to a wanted field, else None (its
/// contents are skipped without building their paths).
enum Frame {
    Mapping {
        path: Option<String>,
        /// The path of the value that comes next, once its key has been read.
        value: Option<Option<String>>,
    },
    Sequence {
        path: Option<String>,
        next: usize,
    },
}

/// Positions of every wanted prefix present in the text, by document and path.
fn walk(
    text: &str,
    prefixes: &HashMap<usize, HashSet<&str>>,
) -> HashMap<(usize, String), Position> {
    let mut found = HashMap::new();
    let last = prefixes.keys().copied().max().unwrap_or(0);
    let none = HashSet::new();
    let mut wanted = &none;
    let mut document = 0;
    let mut stack: Vec<Frame> = Vec::new();
    // Comments hold no field; without them the parser buffers nothing while looking ahead.
    let options = granit_parser::options! { emit_comments: false };
    // A syntax error ends the walk: what was found before it stays.
    for (event, span) in Parser::new_from_str_with_options(text, options).map_while(Result::ok) {
        let path = match &event {
            Event::DocumentStart(..) => {
                document += 1;
                if document > last {
                    break;
                }
                wanted = prefixes.get(&document).unwrap_or(&none);
                stack.clear();
                continue;
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                continue;
            }
            event if event.is_node() => node_path(&mut stack, event, span, wanted, |path, at| {
                found.insert((document, path.to_owned()), at);
            }),
            // Stream and document ends, anchors and comments hold no node.
            _ => continue,
        };
        match event {
            Event::MappingStart(..) => stack.push(Frame::Mapping { path, value: None }),
            Event::SequenceStart(..) => stack.push(Frame::Sequence { path, next: 0 }),
            _ => {}
        }
    }
    found
}

/// The path of the node that `event` starts, when it is a wanted prefix (recorded through
/// `record`); the enclosing collection moves on to its next key, value or entry.
fn node_path(
    stack: &mut [Frame],
    event: &Event<'_>,
    span: Span,
    wanted: &HashSet<&str>,
    mut record: impl FnMut(&str, Position),
) -> Option<String> {
    let at = Position {
        line: span.start.line(),
        column: span.start.col() + 1,
    };
    let mut keep = |path: String, at: Position| {
        wanted.contains(path.as_str()).then(|| {
            record(&path, at);
            path
        })
    };
    match stack.last_mut() {
        None => keep(String::new(), at),
        Some(Frame::Sequence { path, next }) => {
            let index = *next;
            *next += 1;
            let parent = path.as_deref()?;
            keep(format!("{parent}[{index}]"), at)
        }
        Some(Frame::Mapping { path, value }) => match value.take() {
            // A value: its path was settled by its key.
            Some(value_path) => value_path,
            // A key: a scalar names the value that follows (and the key is where the field
            // is written); a collection as key (YAML allows it) names nothing.
            None => {
                let child = match (path.as_deref(), event.scalar()) {
                    (Some(""), Some((key, _))) => keep(key.to_owned(), at),
                    (Some(parent), Some((key, _))) => keep(format!("{parent}.{key}"), at),
                    _ => None,
                };
                *value = Some(child);
                None
            }
        },
    }
}

#[cfg(test)]
mod tests;
