//! netpol's validating admission webhook: rejects policies the engine cannot evaluate, admin
//! policies whose equal priorities make the outcome undefined, and changes that break guard
//! rails; lints and previews the impact of the rest as warnings. Answers from in-memory caches
//! of the cluster fed by watchers, never from API calls on the request path.

pub mod admission;
pub mod audit;
pub mod cli;
pub mod guard;
pub mod metrics;
pub mod self_managed;
pub mod server;
pub mod settings;
pub mod tls;

// The caches, store and shared engine live in netpol-watch (shared with the enforcer).
pub use netpol_watch::{caches, shared, store};

pub use admission::{Outcome, Reviewed, review};
pub use settings::{PriorityMode, Settings};
pub use store::Store;
