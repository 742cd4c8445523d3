//! Without a cluster the suite says it did not run, and why, and exits 0 without claiming to
//! have passed anything.

use std::process::Command;

fn run(kubeconfig: &str, home: &std::path::Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_netpol-e2e"))
        .args(["--connect-timeout", "5"])
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("netpol-e2e runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[test]
fn without_a_cluster_it_says_it_did_not_run() {
    let home = std::env::temp_dir().join(format!("netpol-e2e-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    // A kubeconfig whose server refuses connections (port 1 on loopback).
    let unreachable = home.join("unreachable.yaml");
    std::fs::write(
        &unreachable,
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n\
         clusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\n\
         contexts: [{name: c, context: {cluster: c, user: u}}]\n",
    )
    .unwrap();
    let cases = [
        (
            "empty KUBECONFIG, no ~/.kube/config",
            String::new(),
            "no cluster is configured",
        ),
        (
            "a kubeconfig whose server is down",
            unreachable.display().to_string(),
            "the API server at https://127.0.0.1:1/ is not reachable",
        ),
    ];
    for (what, kubeconfig, why) in cases {
        let (success, text) = run(&kubeconfig, &home);
        assert!(success, "{what}: exit status: {text}");
        assert!(
            text.contains(&format!("netpol-e2e did not run: {why}")),
            "{what}: {text}"
        );
        assert!(!text.contains("passed"), "{what}: claims a pass: {text}");
    }
    let _ = std::fs::remove_dir_all(&home);
}
