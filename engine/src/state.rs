//! The raw objects of a cluster (live or from files), keyed by kind, namespace and name, with
//! small event-handler methods so that watchers and file readers feed it the same way.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::load::{Loaded, Located, Object, ObjectKind, Origin};

/// Identifies one object.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ObjectKey {
    pub kind: ObjectKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectKey {
    pub fn of(object: &Object) -> Self {
        Self {
            kind: object.kind(),
            namespace: object.namespace().map(str::to_owned),
            name: object.name().to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::load::object::display_name(
            self.kind,
            self.namespace.as_deref(),
            &self.name,
        ))
    }
}

/// The same object defined more than once in the input; the last definition wins, as with
/// `kubectl apply` of the files in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    pub key: ObjectKey,
    pub first: Origin,
    pub second: Origin,
}

#[derive(Clone, Debug, Default)]
pub struct State {
    objects: BTreeMap<ObjectKey, Located>,
    duplicates: Vec<Duplicate>,
}

impl State {
    pub fn new() -> Self {
        Self::default()
    }

    /// A state holding everything that was read (errors and skipped kinds stay with the caller).
    pub fn from_loaded(loaded: &Loaded) -> Self {
        let mut state = Self::new();
        for located in &loaded.objects {
            state.insert_new(located.clone());
        }
        state
    }

    /// A state that takes the objects that were read, without copying them.
    pub fn from_objects(objects: Vec<Located>) -> Self {
        let mut state = Self::new();
        for located in objects {
            state.insert_new(located);
        }
        state
    }

    /// Adds an object from input, recording it as a duplicate when the key is already present.
    pub fn insert_new(&mut self, located: Located) {
        let key = ObjectKey::of(&located.object);
        if let Some(previous) = self.objects.get(&key) {
            self.duplicates.push(Duplicate {
                key: key.clone(),
                first: previous.origin.clone(),
                second: located.origin.clone(),
            });
        }
        self.objects.insert(key, located);
    }

    /// Creates or replaces an object (a watch event or an apply).
    pub fn apply(&mut self, located: Located) {
        self.objects.insert(ObjectKey::of(&located.object), located);
    }

    pub fn delete(&mut self, key: &ObjectKey) -> Option<Located> {
        self.objects.remove(key)
    }

    /// Replaces every object of one kind (a watch re-list).
    pub fn reset(&mut self, kind: ObjectKind, objects: impl IntoIterator<Item = Located>) {
        self.objects.retain(|k, _| k.kind != kind);
        for located in objects {
            self.apply(located);
        }
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Located> {
        self.objects.get(key)
    }

    pub fn objects(&self) -> impl Iterator<Item = &Located> {
        self.objects.values()
    }

    pub fn entries(&self) -> impl Iterator<Item = (&ObjectKey, &Located)> {
        self.objects.iter()
    }

    pub fn of_kind(&self, kind: ObjectKind) -> impl Iterator<Item = &Located> {
        self.objects
            .iter()
            .filter(move |(k, _)| k.kind == kind)
            .map(|(_, v)| v)
    }

    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    pub fn len(&self) -> usize {
        self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}
