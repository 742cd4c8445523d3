//! How soon a failed watch is tried again.
//!
//! kube's default backoff grows to 30 s, so after an API server restart a watcher may sleep
//! half a minute before it re-lists, while its enforcer or webhook decides on an old state. Here
//! the delay grows from 250 ms to at most 2 s (back to 250 ms after a success), with jitter of
//! ±50 % so that the watchers of many nodes do not knock at the same instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::runtime::utils::Backoff;

const FIRST: Duration = Duration::from_millis(250);
const LONGEST: Duration = Duration::from_secs(2);

pub struct Reconnect {
    next: Duration,
}

impl Default for Reconnect {
    fn default() -> Self {
        Self { next: FIRST }
    }
}

impl Iterator for Reconnect {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let base = self.next;
        self.next = (base * 2).min(LONGEST);
        // A factor in [0.5, 1.5) from the clock's nanoseconds: enough to spread the watchers
        // of different processes apart, without a random number generator.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let factor = 0.5 + f64::from(nanos % 1000) / 1000.0;
        Some(base.mul_f64(factor))
    }
}

impl Backoff for Reconnect {
    fn reset(&mut self) {
        self.next = FIRST;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_two_seconds_and_resets() {
        let mut backoff = Reconnect::default();
        let delays: Vec<Duration> = backoff.by_ref().take(8).collect();
        for (i, delay) in delays.iter().enumerate() {
            let base = (FIRST * 2u32.pow(i as u32)).min(LONGEST);
            assert!(
                *delay >= base / 2 && *delay < base.mul_f64(1.5),
                "delay {i}: {delay:?} outside [{:?}, {:?})",
                base / 2,
                base.mul_f64(1.5)
            );
        }
        backoff.reset();
        assert!(backoff.next().unwrap() < FIRST.mul_f64(1.5));
    }
}
