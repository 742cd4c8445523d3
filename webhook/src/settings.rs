//! What the admission logic is configured with.

use std::time::Duration;

use crate::guard::GuardRail;

/// What to do about admin policies sharing a priority.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum PriorityMode {
    /// Reject when the order of the two changes the verdict of some flow; other equal
    /// priorities (latent ties included) are allowed with a warning.
    #[default]
    Reject,
    /// Never reject: conflicts and shared priorities become warnings.
    Warn,
    /// Reject any equal priority in the same tier.
    Unique,
    /// Do not look at priorities.
    Off,
}

#[derive(Clone, Debug)]
pub struct Settings {
    pub priority_mode: PriorityMode,
    /// Time budget of the impact preview; zero turns the preview off.
    pub preview_budget: Duration,
    /// Example groups shown per direction (newly denied, newly allowed).
    pub preview_examples: usize,
    /// Warnings per response; the rest are counted in a last "and N more".
    pub max_warnings: usize,
    /// Flows that must stay allowed.
    pub guard_rails: Vec<GuardRail>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            priority_mode: PriorityMode::Reject,
            preview_budget: Duration::from_millis(120),
            preview_examples: 3,
            max_warnings: 10,
            guard_rails: Vec::new(),
        }
    }
}
