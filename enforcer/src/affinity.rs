//! Queue threads run on the CPUs whose packets they receive. With CPU fanout the kernel puts a
//! packet that arrives on CPU `c` on queue `first + c % count`; pinning that queue's thread to
//! those CPUs makes its wake-up local (no cross-CPU interrupt, which costs a VM exit on
//! virtual machines) and keeps the packet in that CPU's cache.

use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;

/// The CPUs this process may run on (its cpuset), in order.
pub fn allowed_cpus() -> nix::Result<Vec<usize>> {
    let set = sched_getaffinity(Pid::from_raw(0))?;
    Ok((0..CpuSet::count())
        .filter(|cpu| set.is_set(*cpu).unwrap_or(false))
        .collect())
}

/// The CPUs whose packets the queue at `index` (of `count`) receives, among `allowed`.
pub fn cpus_for_queue(index: u16, count: u16, allowed: &[usize]) -> Vec<usize> {
    let count = usize::from(count.max(1));
    allowed
        .iter()
        .copied()
        .filter(|cpu| cpu % count == usize::from(index))
        .collect()
}

/// Pins the calling thread to `cpus`; an empty list leaves it free.
pub fn pin_current_thread(cpus: &[usize]) -> nix::Result<()> {
    if cpus.is_empty() {
        return Ok(());
    }
    let mut set = CpuSet::new();
    for cpu in cpus {
        set.set(*cpu)?;
    }
    sched_setaffinity(Pid::from_raw(0), &set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_take_the_cpus_fanout_sends_them() {
        let all = [0, 1, 2, 3, 4, 5];
        assert_eq!(cpus_for_queue(0, 2, &all), [0, 2, 4]);
        assert_eq!(cpus_for_queue(1, 2, &all), [1, 3, 5]);
        assert_eq!(cpus_for_queue(0, 1, &all), all);
        // A cpuset without the queue's CPUs leaves the thread unpinned.
        assert!(cpus_for_queue(1, 2, &[0, 2]).is_empty());
        assert_eq!(cpus_for_queue(2, 4, &[2, 3, 6]), [2, 6]);
    }

    #[test]
    fn this_process_may_run_somewhere() {
        assert!(!allowed_cpus().unwrap().is_empty());
    }
}
