//! The probe pods, as upstream's network policy e2e tests lay them out: pods `a`, `b`, `c` in
//! namespaces `e2e-x`, `e2e-y`, `e2e-z`, each serving TCP 80 and 81 and UDP 80 with agnhost
//! `serve-hostname`, and probing with agnhost `connect` (exit 0: connected).

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::matrix::{Flow, Matrix, Protocol, Verdict};
use crate::tools::Kubectl;

pub const NAMESPACES: [&str; 3] = ["e2e-x", "e2e-y", "e2e-z"];
pub const PODS: [&str; 3] = ["a", "b", "c"];
/// What every probe pod serves.
pub const SERVED: [(u16, Protocol); 3] = [
    (80, Protocol::Tcp),
    (81, Protocol::Tcp),
    (80, Protocol::Udp),
];
/// The label every object of the suite carries (for clean-up and the local webhook's selector).
pub const SUITE_LABEL: &str = "netpol-e2e";
pub const DEFAULT_IMAGE: &str = "registry.k8s.io/e2e-test-images/agnhost:2.53";

/// `namespace/pod` of every probe pod.
pub fn pod_names() -> Vec<String> {
    NAMESPACES
        .iter()
        .flat_map(|ns| PODS.iter().map(move |pod| format!("{ns}/{pod}")))
        .collect()
}

pub fn namespaces() -> Vec<Value> {
    NAMESPACES
        .iter()
        .map(|ns| {
            json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": ns, "labels": {SUITE_LABEL: "true", "e2e": ns.trim_start_matches("e2e-")}},
            })
        })
        .collect()
}

fn container(image: &str, port: u16, protocol: Protocol) -> Value {
    let mode = format!("--{}", protocol.lower());
    json!({
        "name": container_name(port, protocol),
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/agnhost", "serve-hostname", mode, "--http=false", "--port", port.to_string()],
        "ports": [{"name": format!("serve-{port}-{}", protocol.lower()), "containerPort": port,
                   "protocol": format!("{protocol:?}").to_uppercase()}],
    })
}

pub fn container_name(port: u16, protocol: Protocol) -> String {
    format!("cont-{port}-{}", protocol.lower())
}

pub fn pods(image: &str) -> Vec<Value> {
    let containers: Vec<Value> = SERVED
        .iter()
        .map(|(port, protocol)| container(image, *port, *protocol))
        .collect();
    let mut out = Vec::new();
    for ns in NAMESPACES {
        for pod in PODS {
            out.push(json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "namespace": ns, "labels": {SUITE_LABEL: "true", "pod": pod}},
                "spec": {
                    "automountServiceAccountToken": false,
                    "terminationGracePeriodSeconds": 0,
                    "containers": containers,
                },
            }));
        }
    }
    out
}

/// The agnhost command that connects from a probe pod.
pub fn connect_command(ip: IpAddr, port: u16, protocol: Protocol) -> Vec<String> {
    let target = match ip {
        IpAddr::V4(v4) => format!("{v4}:{port}"),
        IpAddr::V6(v6) => format!("[{v6}]:{port}"),
    };
    vec![
        "/agnhost".into(),
        "connect".into(),
        target,
        "--timeout=1s".into(),
        format!("--protocol={}", protocol.lower()),
    ]
}

/// Probes every flow, `workers` at a time; `ip_of` gives a pod's address. A flow whose probe
/// cannot even start (exec refused) gets no verdict and shows as `?`.
pub fn probe_all(
    kubectl: &Kubectl,
    flows: &[Flow],
    ip_of: &(dyn Fn(&str) -> Option<IpAddr> + Sync),
    workers: usize,
) -> Matrix {
    let next = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Matrix::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.max(1) {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(flow) = flows.get(index) else { break };
                    if let Some(verdict) = probe_one(kubectl, flow, ip_of) {
                        results
                            .lock()
                            .expect("no poisoned lock")
                            .insert(flow.clone(), verdict);
                    }
                }
            });
        }
    });
    results.into_inner().expect("no poisoned lock")
}

fn probe_one(
    kubectl: &Kubectl,
    flow: &Flow,
    ip_of: &(dyn Fn(&str) -> Option<IpAddr> + Sync),
) -> Option<Verdict> {
    let (namespace, pod) = flow.from.split_once('/')?;
    let ip = ip_of(&flow.to)?;
    // Any container of the source pod will do; the first serves TCP 80.
    let container = container_name(SERVED[0].0, SERVED[0].1);
    let command = connect_command(ip, flow.port, flow.protocol);
    let output = kubectl.exec(namespace, pod, &container, &command).ok()?;
    if output.success {
        return Some(Verdict::Allow);
    }
    // agnhost connect prints TIMEOUT, REFUSED or OTHER on failure; anything else (exec errors)
    // is no verdict.
    let said = format!("{}{}", output.stdout, output.stderr);
    ["TIMEOUT", "REFUSED", "OTHER"]
        .iter()
        .any(|word| said.contains(word))
        .then_some(Verdict::Deny)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        assert_eq!(pod_names().len(), 9);
        assert_eq!(pod_names()[0], "e2e-x/a");
        let pods = pods(DEFAULT_IMAGE);
        assert_eq!(pods.len(), 9);
        for pod in &pods {
            let problems = crate::validate::check(pod);
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(
                pod["spec"]["containers"].as_array().unwrap().len(),
                SERVED.len()
            );
        }
        for ns in namespaces() {
            let problems = crate::validate::check(&ns);
            assert!(problems.is_empty(), "{problems:?}");
        }
    }

    #[test]
    fn connect_commands() {
        let cases = [
            (
                "10.0.0.7",
                80,
                Protocol::Tcp,
                "10.0.0.7:80",
                "--protocol=tcp",
            ),
            (
                "fd00::7",
                81,
                Protocol::Udp,
                "[fd00::7]:81",
                "--protocol=udp",
            ),
        ];
        for (ip, port, protocol, target, flag) in cases {
            let command = connect_command(ip.parse().unwrap(), port, protocol);
            assert_eq!(command[2], target);
            assert_eq!(command[4], flag);
        }
    }
}
