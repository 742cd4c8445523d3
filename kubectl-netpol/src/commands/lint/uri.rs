//! The URI of a manifest file in a SARIF report: relative to the current directory when the
//! file is under it (code scanning resolves it against the checkout), with forward slashes and
//! percent-encoding; a `file:` URI otherwise.

use std::path::{Component, Path, PathBuf};

/// The URI of `source` (a path as the reader names it), seen from `cwd`.
pub fn artifact_uri(source: &str, cwd: &Path) -> String {
    let path = Path::new(source);
    if !path.is_absolute() {
        return encoded(path);
    }
    if let Some(relative) = under(path, cwd) {
        return encoded(&relative);
    }
    // `file:///C:/x` on Windows (a drive is the path's first segment), `file:///x` elsewhere.
    let absolute = encoded(path);
    let absolute = absolute.trim_start_matches('/');
    format!("file:///{absolute}")
}

/// `path` relative to `cwd` when it is under it, as given or once both are canonical (a
/// symbolic link in either).
fn under(path: &Path, cwd: &Path) -> Option<PathBuf> {
    if let Ok(relative) = path.strip_prefix(cwd) {
        return Some(relative.to_path_buf());
    }
    let canonical = path.canonicalize().ok()?;
    let relative = canonical.strip_prefix(cwd.canonicalize().ok()?).ok()?;
    Some(relative.to_path_buf())
}

/// The path's segments, percent-encoded and joined by `/`; `.` segments dropped.
fn encoded(path: &Path) -> String {
    let mut segments: Vec<String> = Vec::new();
    for component in path.components() {
        match component {
            Component::RootDir => segments.push(String::new()),
            Component::CurDir => {}
            Component::ParentDir => segments.push("..".to_owned()),
            // A drive letter (`C:`) keeps its colon: it is what a file URI expects there.
            Component::Prefix(prefix) => {
                segments.push(prefix.as_os_str().to_string_lossy().replace('\\', "/"))
            }
            Component::Normal(name) => segments.push(percent_encoded(&name.to_string_lossy())),
        }
    }
    if segments.len() == 1 && segments[0].is_empty() {
        return "/".to_owned();
    }
    segments.join("/")
}

/// RFC 3986 path characters stay, except `:` (a relative reference whose first segment holds
/// one would read as a scheme); everything else is percent-encoded as UTF-8.
fn percent_encoded(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=@".contains(&byte);
        if keep {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_forward_slashed_and_encoded() {
        let cwd = Path::new("/work/repo");
        let cases: &[(&str, &str, &str)] = &[
            (
                "manifests/policy.yaml",
                "manifests/policy.yaml",
                "relative as given",
            ),
            (
                "./manifests/./policy.yaml",
                "manifests/policy.yaml",
                "dot segments dropped",
            ),
            (
                "../other/policy.yaml",
                "../other/policy.yaml",
                "outside, relative",
            ),
            (
                "/work/repo/manifests/policy.yaml",
                "manifests/policy.yaml",
                "absolute under the directory",
            ),
            (
                "/elsewhere/policy.yaml",
                "file:///elsewhere/policy.yaml",
                "absolute elsewhere",
            ),
            (
                "my manifests/a#1?.yaml",
                "my%20manifests/a%231%3F.yaml",
                "reserved characters",
            ),
            ("c:policy.yaml", "c%3Apolicy.yaml", "not a scheme"),
            (
                "politique/réseau.yaml",
                "politique/r%C3%A9seau.yaml",
                "UTF-8",
            ),
            ("100%.yaml", "100%25.yaml", "the percent sign itself"),
        ];
        for (source, want, why) in cases {
            assert_eq!(artifact_uri(source, cwd), *want, "{source:?}: {why}");
        }
    }
}
