//! A kernel for unit tests: records rule installs and keeps a conntrack table in memory.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::{Backend, Connection, Kernel, KernelError, RuleSet};

#[derive(Debug, Default)]
pub struct FakeKernel {
    pub installed: Mutex<Vec<RuleSet>>,
    pub removed: Mutex<usize>,
    pub connections: Mutex<Vec<Connection>>,
    pub forgotten: Mutex<Vec<Connection>>,
    /// How many times the decision cache was emptied.
    pub decisions_forgotten: Mutex<usize>,
    /// Makes emptying the decision cache fail.
    pub refuse_forget_decisions: bool,
    /// Makes rule installs fail while set.
    pub refuse_installs: AtomicBool,
    /// Makes reading the conntrack table fail while set.
    pub refuse_connections: AtomicBool,
}

impl FakeKernel {
    /// The rules in force: the last install, unless removed since.
    pub fn current(&self) -> Option<RuleSet> {
        self.installed.lock().expect("lock").last().cloned()
    }
}

impl Kernel for FakeKernel {
    fn backend(&self) -> Backend {
        Backend::Fake
    }

    fn install(&self, rules: &RuleSet) -> Result<(), KernelError> {
        if self.refuse_installs.load(Ordering::Relaxed) {
            return Err(refused("iptables-restore"));
        }
        self.installed.lock().expect("lock").push(rules.clone());
        Ok(())
    }

    fn remove(&self) -> Result<(), KernelError> {
        *self.removed.lock().expect("lock") += 1;
        Ok(())
    }

    fn connections(&self) -> Result<Vec<Connection>, KernelError> {
        if self.refuse_connections.load(Ordering::Relaxed) {
            return Err(refused("conntrack"));
        }
        Ok(self.connections.lock().expect("lock").clone())
    }

    fn forget(&self, connections: &[Connection]) -> Result<(), KernelError> {
        self.connections
            .lock()
            .expect("lock")
            .retain(|c| !connections.contains(c));
        self.forgotten.lock().expect("lock").extend(connections);
        Ok(())
    }

    fn forget_decisions(&self) -> Result<(), KernelError> {
        if self.refuse_forget_decisions {
            return Err(refused("ipset flush"));
        }
        *self.decisions_forgotten.lock().expect("lock") += 1;
        Ok(())
    }
}

fn refused(program: &str) -> KernelError {
    KernelError::Failed {
        program: program.into(),
        status: "exit status: 1".into(),
        stderr: "refused by the test".into(),
    }
}
