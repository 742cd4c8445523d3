//! The string syntaxes the API server and the CRDs check: object names, label keys and values,
//! port names, domain names. Each returns why a string is refused.

/// An RFC 1123 subdomain: what the API server accepts as the name of every policy kind.
pub(crate) fn dns_subdomain(text: &str) -> Result<(), String> {
    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if text.len() > 253 {
        return Err(format!("{text:?} is longer than 253 characters"));
    }
    if text.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a lowercase RFC 1123 subdomain (lowercase letters, digits, '-' and '.', starting and ending with a letter or digit)"
        ))
    }
}

/// The name part of a label key, and a label value when not empty: at most 63 letters, digits,
/// '-', '_' and '.', starting and ending with a letter or digit.
fn label_word(text: &str) -> bool {
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    text.len() <= 63
        && edge(text.chars().next())
        && edge(text.chars().last())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A label key: a qualified name, `[prefix/]name` with a DNS subdomain prefix.
pub(crate) fn label_key(text: &str) -> Result<(), String> {
    let name = match text.split_once('/') {
        Some((prefix, name)) => {
            if name.contains('/') || prefix.is_empty() || dns_subdomain(prefix).is_err() {
                return Err(format!(
                    "label key {text:?} is not a qualified name (an optional DNS subdomain prefix and '/', then a name)"
                ));
            }
            name
        }
        None => text,
    };
    if label_word(name) {
        Ok(())
    } else {
        Err(format!(
            "label key {text:?}: the name part must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// A label value: empty, or a label word.
pub(crate) fn label_value(text: &str) -> Result<(), String> {
    if text.is_empty() || label_word(text) {
        Ok(())
    } else {
        Err(format!(
            "label value {text:?} must be empty or 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

/// A named port must be an IANA service name: at most 15 lowercase letters, digits and
/// hyphens, with a letter, no leading, trailing or double hyphen.
pub fn port_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a valid port name (IANA service name)"
        ))
    }
}

/// Why the CRD's pattern refuses a `domainNames` entry, in upstream's words where it has some.
/// The pattern: optional `*.`, then two or more labels of letters, digits, `-` and `_` (not at
/// the ends), optional trailing dot. Its first character class is written `[a-zA-z0-9]`, whose
/// `A-z` also takes `[`, `\`, `]`, `^`, `_` and `` ` ``; the API server accepts those at the
/// start of a label, and so do we (lint warns: no host name has them).
pub(crate) fn domain_name_problem(name: &str) -> Option<String> {
    let bare = name.strip_prefix("*.");
    let wildcard = bare.is_some();
    let bare = bare.unwrap_or(name);
    let bare = bare.strip_suffix('.').unwrap_or(bare);
    if bare.contains('*') || name == "*" {
        return Some(
            "'*' is allowed only as the whole first label, \"*.\" (upstream: it \"may only be specified as a prefix\" and matches entire labels)".to_owned(),
        );
    }
    let labels: Vec<&str> = bare.split('.').collect();
    if let Some(label) = labels.iter().find(|l| !label_ok(l)) {
        return Some(if label.is_empty() {
            "an empty label (a leading dot or two dots in a row)".to_owned()
        } else {
            format!(
                "label {label:?}: letters, digits, '-' and '_', starting and ending with a letter or digit"
            )
        });
    }
    if labels.len() < 2 {
        return Some(if wildcard {
            "after \"*.\" the pattern wants a name of two labels or more (no wildcard over a top-level domain)".to_owned()
        } else {
            "the pattern wants two labels or more".to_owned()
        });
    }
    None
}

fn label_ok(label: &str) -> bool {
    let mut chars = label.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let first_ok = first.is_ascii_digit() || ('A'..='z').contains(&first);
    let rest: Vec<char> = chars.collect();
    first_ok
        && rest.last().is_none_or(|c| c.is_ascii_alphanumeric())
        && rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    type Check = fn(&str) -> bool;

    #[test]
    fn syntaxes() {
        let name: Check = |t| dns_subdomain(t).is_ok();
        let key: Check = |t| label_key(t).is_ok();
        let value: Check = |t| label_value(t).is_ok();
        let port: Check = |t| port_name(t).is_ok();
        let domain: Check = |t| domain_name_problem(t).is_none();
        // (syntax, text, accepted, what the case shows)
        let cases: &[(Check, &str, bool, &str)] = &[
            (name, "web", true, "a plain name"),
            (name, "a.b-c", true, "dots and hyphens"),
            (name, "Web", false, "no uppercase in names"),
            (name, "a..b", false, "no empty label"),
            (name, "-a", false, "no leading hyphen"),
            (key, "app", true, "a plain key"),
            (key, "k8s.io/app", true, "a prefixed key"),
            (key, "a/b/c", false, "two slashes"),
            (key, "/app", false, "an empty prefix"),
            (key, "a b", false, "a space in a key"),
            (key, "App_1.x", true, "case, '_' and '.' in a key"),
            (value, "", true, "the empty value"),
            (value, "c d", false, "a space in a value"),
            (port, "http", true, "a port name"),
            (port, "HTTP", false, "no uppercase in port names"),
            (port, "a--b", false, "no double hyphen"),
            (port, "8080", false, "a port name needs a letter"),
            (domain, "example.com", true, "a domain"),
            (domain, "*.example.com.", true, "wildcard and trailing dot"),
            (domain, "example", false, "one label"),
            (domain, "a.-b.com", false, "a label starting with '-'"),
            (domain, "_dmarc.x.io", true, "the pattern's A-z takes '_'"),
            (domain, "*example.com", false, "a partial wildcard"),
            (domain, "a.*.com", false, "a wildcard inside"),
            (domain, "*", false, "a bare wildcard"),
            (domain, "*.com", false, "a wildcard over a top-level domain"),
            (domain, "*.*.example.com", false, "two wildcards"),
            (domain, "example.com..", false, "two trailing dots"),
            (domain, ".example.com", false, "a leading dot"),
        ];
        for (check, text, accepted, what) in cases {
            assert_eq!(check(text), *accepted, "{what}: {text:?}");
        }
    }
}
