//! Cutting connections that a new policy set denies: their conntrack entries are forgotten, so
//! the next packet of each is new again, gets queued and is dropped (with the default
//! `nf_conntrack_tcp_loose`, a mid-stream TCP packet starts a new entry). A mid-stream TCP
//! packet the other way (the peer's reply) is dropped by the rules without a queue: tracked
//! as new, it would let the cut connection pass as its replies.

use crate::decide::Snapshot;
use crate::kernel::{Connection, Kernel, KernelError};
use crate::packet::Packet;

/// Forgets every tracked connection from or to a local pod that `snapshot` denies; returns how
/// many were cut.
pub fn cut_denied(kernel: &dyn Kernel, snapshot: &Snapshot) -> Result<usize, KernelError> {
    let denied: Vec<Connection> = kernel
        .connections()?
        .into_iter()
        .filter(|c| !snapshot.decide(&packet_of(c)).allowed)
        .collect();
    kernel.forget(&denied)?;
    Ok(denied.len())
}

fn packet_of(connection: &Connection) -> Packet {
    Packet {
        src: connection.src,
        dst: connection.dst,
        transport: connection.transport,
        dst_port: connection.dst_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::tests::snapshot;
    use crate::kernel::fake::FakeKernel;
    use crate::packet::Transport;

    fn connection(src: &str, dst: &str, port: u16) -> Connection {
        Connection {
            transport: Transport::Tcp,
            src: src.parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: Some(40000),
            dst_port: Some(port),
        }
    }

    #[test]
    fn forgets_only_denied_connections() {
        let kernel = FakeKernel::default();
        let (denied, allowed) = (
            connection("10.0.1.2", "10.0.1.3", 5432),
            connection("10.0.2.2", "10.0.1.3", 5432),
        );
        *kernel.connections.lock().unwrap() = vec![denied, allowed];
        assert_eq!(cut_denied(&kernel, &snapshot("node-a")).unwrap(), 1);
        assert_eq!(*kernel.forgotten.lock().unwrap(), [denied]);
        assert_eq!(*kernel.connections.lock().unwrap(), [allowed]);
    }
}
