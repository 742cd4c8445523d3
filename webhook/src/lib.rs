//! netpol's validating admission webhook: rejects policies the engine cannot evaluate, admin
//! policies whose equal priorities make the outcome undefined, and changes that break guard
//! rails; lints and previews the impact of the rest as warnings. Answers from in-memory caches
//! of the cluster fed by watchers, never from API calls on the request path.

pub mod admission;
pub mod caches;
pub mod cli;
pub mod guard;
pub mod metrics;
pub mod server;
pub mod settings;
pub mod shared;
pub mod store;
pub mod tls;

pub use admission::{Outcome, Reviewed, review};
pub use settings::{PriorityMode, Settings};
pub use store::Store;
