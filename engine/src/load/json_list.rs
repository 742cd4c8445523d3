//! A JSON `List` (what `kubectl get -o json` prints) read item by item. Parsing the whole text
//! into one tree first held a 150,000-pod snapshot twice (the tree and the typed objects). Here
//! one thread parses the items and hands them over in batches to threads that decode them, so
//! only the typed objects accumulate, and parsing and decoding overlap.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_yaml_ng::Value;

use super::{ListItems, Loaded, Origin, is_list, items_not_a_list, joined};

/// Texts this long are read item by item; shorter ones are parsed whole, which spares the
/// threads (a 2,000-pod snapshot is about 1 MiB).
pub(super) const STREAMED_FROM: usize = 256 << 10;

/// Items handed over together: enough to make the hand-over cheap, few enough that the parsed
/// but undecoded items (at most [`QUEUED`] batches) stay a small part of memory.
const BATCH: usize = 1024;
const QUEUED: usize = 4;

/// A batch of parsed items and the list index of its first.
type Batch = (usize, Vec<Value>);

/// The objects of `text` when it is a JSON object of a `List` kind; None when it is not valid
/// JSON or not a list, for the caller's other readers.
pub(super) fn read(origin: &Origin, text: &str, default_namespace: &str) -> Option<Loaded> {
    let decoders = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (batches, queue) = sync_channel::<Batch>(QUEUED);
    // Only the decoders hold the queue: should they all stop (a panic), the parser's next
    // hand-over fails instead of waiting for ever, and the panic goes on at the join.
    let queue = Arc::new(Mutex::new(queue));
    let (top, mut parts) = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..decoders)
            .map(|_| {
                let queue = Arc::clone(&queue);
                scope.spawn(move || decode(&queue, origin, default_namespace))
            })
            .collect();
        drop(queue);
        let mut json = serde_json::Deserializer::from_str(text);
        // The sender goes with the visitor: once parsing ends, the decoders drain and stop.
        let top = json
            .deserialize_map(Top { batches })
            .and_then(|top| json.end().map(|()| top));
        let parts: Vec<(usize, Loaded)> = handles.into_iter().flat_map(joined).collect();
        (top, parts)
    });
    let top = top.ok()?;
    // Anything else (no apiVersion, another kind) goes to the reader of whole objects, which
    // names what is missing or reads the object by its kind.
    let api_version = top.api_version.unwrap_or_default();
    let has_items = !matches!(top.items, Items::Absent);
    if api_version.is_empty() || !is_list(&top.kind.unwrap_or_default(), has_items) {
        return None;
    }
    Some(match top.items {
        Items::Read => {
            parts.sort_unstable_by_key(|(first, _)| *first);
            let mut loaded = Loaded::default();
            for (_, part) in parts {
                loaded.extend(part);
            }
            loaded
        }
        Items::Absent | Items::Null => Loaded::default(),
        Items::NotASequence => Loaded {
            errors: vec![items_not_a_list(origin)],
            ..Loaded::default()
        },
    })
}

/// A decoding thread: batches until the parser is done, each read in order.
fn decode(
    queue: &Mutex<Receiver<Batch>>,
    origin: &Origin,
    default_namespace: &str,
) -> Vec<(usize, Loaded)> {
    let mut parts = Vec::new();
    loop {
        let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((first, items)) = next else {
            return parts;
        };
        let mut part = Loaded::default();
        let list = ListItems {
            origin,
            convert: Ok,
            default_namespace,
        };
        list.read_in_order(first, items, &mut part);
        parts.push((first, part));
    }
}

/// What the top-level object says; keys may come in any order (kubectl prints `items` before
/// `kind`), so the items are read before it is known to be a list.
struct Read {
    api_version: Option<String>,
    kind: Option<String>,
    items: Items,
}

enum Items {
    Absent,
    Null,
    NotASequence,
    /// Handed over to the decoders.
    Read,
}

struct Top {
    batches: SyncSender<Batch>,
}

impl<'de> Visitor<'de> for Top {
    type Value = Read;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Read, A::Error> {
        let mut read = Read {
            api_version: None,
            kind: None,
            items: Items::Absent,
        };
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => read.api_version = text(map.next_value()?),
                "kind" => read.kind = text(map.next_value()?),
                "items" => {
                    read.items = map.next_value_seed(ItemsSeed {
                        batches: &self.batches,
                    })?
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(read)
    }
}

fn text(value: serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    }
}

struct ItemsSeed<'a> {
    batches: &'a SyncSender<Batch>,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = Items;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Items, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = Items;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of objects")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Items, A::Error> {
        let mut batch: Vec<Value> = Vec::with_capacity(BATCH);
        let mut first = 0;
        let hand_over = |batch: Vec<Value>, first: usize| {
            self.batches
                .send((first, batch))
                .map_err(|_| de::Error::custom("the decoding threads stopped"))
        };
        while let Some(item) = seq.next_element::<Value>()? {
            batch.push(item);
            if batch.len() == BATCH {
                hand_over(
                    std::mem::replace(&mut batch, Vec::with_capacity(BATCH)),
                    first,
                )?;
                first += BATCH;
            }
        }
        if !batch.is_empty() {
            hand_over(batch, first)?;
        }
        Ok(Items::Read)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Items, E> {
        Ok(Items::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Items, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Items::NotASequence)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Items, E> {
        Ok(Items::NotASequence)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Items, E> {
        Ok(Items::NotASequence)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Items, E> {
        Ok(Items::NotASequence)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Items, E> {
        Ok(Items::NotASequence)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Items, E> {
        Ok(Items::NotASequence)
    }
}
