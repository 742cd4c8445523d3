//! The Dockerfiles build the binaries the chart runs (Docker cannot run here, so this reads
//! them): the package and binary, where the runtime stage puts it, the user it runs as against
//! the chart's security contexts, the enforcer's netfilter tools, and a build context that
//! keeps every workspace member.

use netpol_e2e::repo_root;

struct Image {
    dockerfile: &'static str,
    package: &'static str,
    binary: &'static str,
    /// `USER` of the runtime stage, as the chart's runAsUser expects it.
    user: &'static str,
    /// Packages the runtime stage installs.
    packages: &'static [&'static str],
    /// The chart value naming the image repository.
    values_key: &'static str,
}

const IMAGES: [Image; 2] = [
    Image {
        dockerfile: "webhook/Dockerfile",
        package: "netpol-webhook",
        binary: "netpol-webhook",
        user: "65532:65532",
        packages: &[],
        values_key: "webhook",
    },
    Image {
        dockerfile: "enforcer/Dockerfile",
        package: "netpol-enforcer",
        binary: "netpol-enforcer",
        user: "0:0",
        packages: &["iptables", "nftables", "conntrack", "ipset"],
        values_key: "enforcer",
    },
];

fn workspace() -> toml_like::Workspace {
    toml_like::read(&std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap())
}

/// Just enough of Cargo.toml: the members and the rust-version (no TOML parser needed).
mod toml_like {
    pub struct Workspace {
        pub members: Vec<String>,
        pub rust_version: (u32, u32),
    }

    pub fn read(text: &str) -> Workspace {
        let members_line = text
            .lines()
            .find(|l| l.starts_with("members"))
            .expect("workspace members");
        let members = members_line
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect();
        let version = text
            .lines()
            .find(|l| l.starts_with("rust-version"))
            .and_then(|l| l.split('"').nth(1))
            .expect("rust-version");
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap());
        Workspace {
            members,
            rust_version: (parts.next().unwrap(), parts.next().unwrap()),
        }
    }
}

#[test]
fn dockerfiles_build_what_the_chart_runs() {
    let values: serde_json::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(repo_root().join("charts/netpol/values.yaml")).unwrap(),
    )
    .unwrap();
    let workspace = workspace();
    for image in IMAGES {
        let text = std::fs::read_to_string(repo_root().join(image.dockerfile)).unwrap();
        let what = image.dockerfile;
        let stages: Vec<&str> = text.lines().filter(|l| l.starts_with("FROM ")).collect();
        assert_eq!(stages.len(), 2, "{what}: a build and a runtime stage");
        let builder = stages[0]
            .strip_prefix("FROM rust:")
            .expect("the build stage is the rust image");
        let mut version = builder.split('-').next().unwrap().split('.');
        let builder_version = (
            version.next().unwrap().parse::<u32>().unwrap(),
            version.next().unwrap().parse::<u32>().unwrap(),
        );
        assert!(
            builder_version >= workspace.rust_version,
            "{what}: rust {builder_version:?} is older than the workspace's rust-version"
        );
        let build = format!(
            "cargo build --release --locked -p {} --bin {}",
            image.package, image.binary
        );
        assert!(text.contains(&build), "{what}: want `{build}`");
        let manifest = std::fs::read_to_string(
            repo_root()
                .join(what.split('/').next().unwrap())
                .join("Cargo.toml"),
        )
        .unwrap();
        assert!(
            manifest.contains(&format!("name = \"{}\"", image.package))
                && manifest.contains(&format!(
                    "name = \"{}\"\npath = \"src/main.rs\"",
                    image.binary
                )),
            "{what}: {} is not a binary of package {}",
            image.binary,
            image.package
        );
        let installed = format!("/usr/local/bin/{}", image.binary);
        assert!(
            text.contains(&format!("COPY --from=build /{} {installed}", image.binary)),
            "{what}: the runtime stage copies the binary to {installed}"
        );
        assert!(
            text.contains(&format!("ENTRYPOINT [\"{installed}\"]")),
            "{what}: ENTRYPOINT"
        );
        let users: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("USER "))
            .collect();
        assert_eq!(users, [image.user], "{what}: USER");
        for package in image.packages {
            assert!(
                text.lines()
                    .any(|l| l.contains("apt-get install") && l.contains(package)),
                "{what}: the runtime stage installs {package}"
            );
        }
        let repository = values[image.values_key]["image"]["repository"]
            .as_str()
            .unwrap();
        assert!(
            repository.ends_with(&format!("/{}", image.binary)),
            "{what}: chart value {}.image.repository is {repository}",
            image.values_key
        );
        assert!(
            text.contains(&format!("{repository}:")),
            "{what}: the build command in its header tags {repository}"
        );
    }
    // Chart security contexts: the webhook runs as 65532, the enforcer as root.
    let deployment = std::fs::read_to_string(
        repo_root().join("charts/netpol/templates/webhook-deployment.yaml"),
    )
    .unwrap();
    assert!(deployment.contains("runAsUser: 65532"));
    let daemonset = std::fs::read_to_string(
        repo_root().join("charts/netpol/templates/enforcer-daemonset.yaml"),
    )
    .unwrap();
    assert!(daemonset.contains("runAsUser: 0"));
}

#[test]
fn build_context_keeps_every_workspace_member() {
    let ignore = std::fs::read_to_string(repo_root().join(".dockerignore")).unwrap();
    let ignored: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/'))
        .collect();
    assert!(ignored.contains(&"target"), ".dockerignore: target/");
    for member in workspace().members {
        assert!(
            !ignored.contains(&member.as_str()),
            ".dockerignore drops workspace member {member}: cargo could not load the workspace"
        );
    }
    for needed in ["Cargo.toml", "Cargo.lock", "crds"] {
        assert!(!ignored.contains(&needed), ".dockerignore drops {needed}");
    }
}
