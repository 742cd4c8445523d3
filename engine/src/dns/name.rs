//! Domain names as `domainNames` entries name them. Upstream (network-policy-api
//! `apis/v1alpha2` `DomainName`, NPEP-133): an entry is an exact name, or `*.` followed by a
//! name, where `*` "matches one or more entire labels" and "may only be specified as a
//! prefix": `*.kubernetes.io` matches `www.kubernetes.io` and `latest.blog.kubernetes.io`,
//! not `kubernetes.io`. Upstream says nothing of case or of the trailing dot its pattern
//! allows; DNS names compare without regard to ASCII case (RFC 4343) and an answer's names are
//! always absolute, so netpol compares case-insensitively and reads `example.com.` as
//! `example.com`.

/// A name as answers and entries are compared: ASCII lowercase, without the root's dot.
pub fn canonical(name: &str) -> String {
    trim_root(name).to_ascii_lowercase()
}

fn trim_root(name: &str) -> &str {
    name.strip_suffix('.').unwrap_or(name)
}

/// Whether `name` (the name a pod queried) is one that `pattern` (a `domainNames` entry)
/// names.
pub fn matches(pattern: &str, name: &str) -> bool {
    let (pattern, name) = (trim_root(pattern).as_bytes(), trim_root(name).as_bytes());
    match pattern.strip_prefix(b"*.") {
        None => name.eq_ignore_ascii_case(pattern),
        // One or more whole labels, then a dot, then the parent.
        Some(parent) => {
            name.len() > parent.len() + 1 && {
                let dot = name.len() - parent.len() - 1;
                name[dot] == b'.' && name[dot + 1..].eq_ignore_ascii_case(parent)
            }
        }
    }
}

/// Whether every name `narrow` matches, `wide` matches too (both `domainNames` entries).
pub fn covers(wide: &str, narrow: &str) -> bool {
    let narrow = trim_root(narrow);
    match narrow.strip_prefix("*.") {
        None => matches(wide, narrow),
        // `*.p` names everything under p: covered by `*.q` when p is q or under it.
        Some(parent) => trim_root(wide)
            .strip_prefix("*.")
            .is_some_and(|wide_parent| {
                wide_parent.eq_ignore_ascii_case(parent) || matches(wide, parent)
            }),
    }
}

/// Why a text is not a host name an answer can carry.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("{0:?} is a wildcard; an answer names one host")]
    Wildcard(String),
    #[error("{name:?}: label {label:?} {why}")]
    Label {
        name: String,
        label: String,
        why: &'static str,
    },
    #[error("{0:?} is longer than 253 characters")]
    TooLong(String),
}

/// Checks a host name as an answer would carry it: labels of 1-63 letters, digits, `-` and
/// `_`, not starting or ending with `-`, 253 characters at most, one trailing dot allowed.
pub fn host_name(text: &str) -> Result<String, NameError> {
    let bare = trim_root(text);
    if bare.is_empty() {
        return Err(NameError::Empty);
    }
    if bare.contains('*') {
        return Err(NameError::Wildcard(text.to_owned()));
    }
    if bare.len() > 253 {
        return Err(NameError::TooLong(text.to_owned()));
    }
    for label in bare.split('.') {
        let why = if label.is_empty() {
            Some("is empty")
        } else if label.len() > 63 {
            Some("is longer than 63 characters")
        } else if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            Some("has characters other than letters, digits, '-' and '_'")
        } else if label.starts_with('-') || label.ends_with('-') {
            Some("starts or ends with '-'")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(NameError::Label {
                name: text.to_owned(),
                label: label.to_owned(),
                why,
            });
        }
    }
    Ok(canonical(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_examples_and_edges() {
        // (pattern, name, matches, why)
        let cases = [
            ("kubernetes.io", "kubernetes.io", true, "upstream: exact"),
            (
                "kubernetes.io",
                "www.kubernetes.io",
                false,
                "upstream: exact is not a suffix",
            ),
            (
                "kubernetes.io",
                "my-kubernetes.io",
                false,
                "upstream: no partial label",
            ),
            (
                "kubernetes.io",
                "wikipedia.org",
                false,
                "upstream: another name",
            ),
            (
                "blog.kubernetes.io",
                "www.kubernetes.io",
                false,
                "upstream: a sibling",
            ),
            (
                "blog.kubernetes.io",
                "kubernetes.io",
                false,
                "upstream: the parent",
            ),
            (
                "*.kubernetes.io",
                "www.kubernetes.io",
                true,
                "upstream: one label",
            ),
            (
                "*.kubernetes.io",
                "latest.blog.kubernetes.io",
                true,
                "upstream: two labels",
            ),
            (
                "*.kubernetes.io",
                "kubernetes.io",
                false,
                "upstream: not the parent itself",
            ),
            (
                "*.kubernetes.io",
                "wikipedia.org",
                false,
                "upstream: another name",
            ),
            (
                "*.kubernetes.io",
                "xkubernetes.io",
                false,
                "whole labels only",
            ),
            (
                "*.kubernetes.io",
                ".kubernetes.io",
                false,
                "an empty label is no label",
            ),
            (
                "Kubernetes.IO",
                "kubernetes.io",
                true,
                "case does not count (RFC 4343)",
            ),
            ("*.Example.com", "API.example.COM", true, "case, wildcard"),
            (
                "example.com.",
                "example.com",
                true,
                "the root's dot in the entry",
            ),
            (
                "example.com",
                "example.com.",
                true,
                "the root's dot in the answer",
            ),
            ("*.example.com.", "a.example.com.", true, "both absolute"),
            ("example.com", "example.com..", false, "one root dot only"),
            ("*.a.b", "x.a.b", true, "a short parent"),
            ("*.a.b", "a.b", false, "the parent, short"),
        ];
        for (pattern, name, expected, why) in cases {
            assert_eq!(
                matches(pattern, name),
                expected,
                "{why}: {pattern} ~ {name}"
            );
        }
    }

    /// The reference: names as label lists, compared label by label.
    fn brute_force(pattern: &str, name: &str) -> bool {
        let labels = |s: &str| -> Vec<String> {
            trim_root(s)
                .split('.')
                .map(str::to_ascii_lowercase)
                .collect()
        };
        let (pattern, name) = (labels(pattern), labels(name));
        if pattern.first().map(String::as_str) == Some("*") {
            let parent = &pattern[1..];
            name.len() > parent.len() && name[name.len() - parent.len()..] == *parent
        } else {
            pattern == name
        }
    }

    #[test]
    fn agrees_with_a_label_by_label_matcher() {
        // xorshift64*: seeded, no dependency.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
        };
        // Few labels so that random names often share suffixes.
        let words = [
            "a", "B", "ab", "example", "Example", "com", "io", "x-1", "_s",
        ];
        let name = |next: &mut dyn FnMut(usize) -> usize| {
            let count = 1 + next(4);
            let labels: Vec<&str> = (0..count).map(|_| words[next(words.len())]).collect();
            let mut text = labels.join(".");
            if next(4) == 0 {
                text.push('.');
            }
            text
        };
        let mut matched = 0;
        for _ in 0..200_000 {
            let mut pattern = name(&mut next);
            if next(2) == 0 {
                pattern = format!("*.{pattern}");
            }
            let candidate = name(&mut next);
            let expected = brute_force(&pattern, &candidate);
            matched += usize::from(expected);
            assert_eq!(
                matches(&pattern, &candidate),
                expected,
                "{pattern:?} ~ {candidate:?}"
            );
        }
        assert!(
            matched > 1_000,
            "the generator makes matches too: {matched}"
        );
    }

    #[test]
    fn coverage() {
        // (wide, narrow, covers, why)
        let cases = [
            (
                "*.example.com",
                "api.example.com",
                true,
                "a name under the wildcard",
            ),
            ("*.example.com", "example.com", false, "not the parent"),
            (
                "*.example.com",
                "*.api.example.com",
                true,
                "a deeper wildcard",
            ),
            (
                "*.example.com",
                "*.Example.com.",
                true,
                "the same wildcard, spelt otherwise",
            ),
            (
                "*.api.example.com",
                "*.example.com",
                false,
                "a wider wildcard",
            ),
            (
                "api.example.com",
                "*.api.example.com",
                false,
                "a name covers no wildcard",
            ),
            ("api.example.com", "API.example.com.", true, "the same name"),
        ];
        for (wide, narrow, expected, why) in cases {
            assert_eq!(covers(wide, narrow), expected, "{why}: {wide} ⊇ {narrow}");
        }
    }

    #[test]
    fn host_names() {
        let cases = [
            ("api.example.com", Ok("api.example.com"), "a name"),
            ("API.Example.com.", Ok("api.example.com"), "canonical form"),
            (
                "_svc._tcp.example.com",
                Ok("_svc._tcp.example.com"),
                "underscores",
            ),
            ("*.example.com", Err("wildcard"), "no wildcard"),
            ("a..b", Err("empty"), "an empty label"),
            ("-a.b", Err("starts or ends"), "a leading hyphen"),
            ("a b.c", Err("characters"), "a space"),
            (".", Err("empty"), "the root alone"),
        ];
        for (text, expected, why) in cases {
            match (host_name(text), expected) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{why}"),
                (Err(got), Err(want)) => assert!(got.to_string().contains(want), "{why}: {got}"),
                (got, want) => panic!("{why}: {text:?} gave {got:?}, want {want:?}"),
            }
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(host_name(&long).is_err(), "a label over 63");
    }
}
