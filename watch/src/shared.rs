//! What the caches and their readers share: the store (written by watchers) and the published
//! engine (read by webhook requests or enforcer threads, which never wait for the store's
//! lock).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use netpol_engine::Engine;

use crate::store::Store;

#[derive(Debug)]
pub struct Shared {
    store: Mutex<Store>,
    engine: RwLock<Arc<Engine>>,
    ready: AtomicBool,
}

impl Shared {
    /// Shared state over a store, published at once (ready or not).
    pub fn new(store: Store, ready: bool) -> Self {
        let engine = RwLock::new(store.engine());
        Self {
            store: Mutex::new(store),
            engine,
            ready: AtomicBool::new(ready),
        }
    }

    /// The engine to answer from.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.read().expect("engine lock").clone()
    }

    /// Changes the store and publishes its engine.
    pub fn update<T>(&self, change: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = self.store.lock().expect("store lock");
        let out = change(&mut store);
        *self.engine.write().expect("engine lock") = store.engine();
        out
    }

    /// Rebuilds the engine after endpoint changes, without holding the store's lock during the
    /// build (watch events keep arriving meanwhile and are folded in afterwards).
    pub fn rebuild_if_stale(&self) -> bool {
        let Some(rebuild) = self.store.lock().expect("store lock").begin_rebuild() else {
            return false;
        };
        let engine = rebuild.build();
        self.update(|store| store.finish_rebuild(engine));
        true
    }

    pub fn sizes(&self) -> crate::store::Sizes {
        self.store.lock().expect("store lock").sizes()
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
    }
}
