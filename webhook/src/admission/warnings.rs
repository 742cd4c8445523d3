//! AdmissionResponse warnings: kubectl prints each on its own line, and the API server limits
//! their total size, so each stays short and their number is capped.

/// The longest warning we send, in characters.
pub const MAX_WARNING_CHARS: usize = 119;

/// Shortens every warning to [`MAX_WARNING_CHARS`] and keeps at most `max`, the last one
/// saying how many were left out.
pub fn cap(list: Vec<String>, max: usize) -> Vec<String> {
    let max = max.max(1);
    let total = list.len();
    let mut out: Vec<String> = if total > max {
        list.into_iter().take(max - 1).map(shorten).collect()
    } else {
        list.into_iter().map(shorten).collect()
    };
    if total > max {
        out.push(format!("and {} more", total - (max - 1)));
    }
    out
}

fn shorten(text: String) -> String {
    if text.chars().count() <= MAX_WARNING_CHARS {
        return text;
    }
    let mut short: String = text.chars().take(MAX_WARNING_CHARS - 1).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_length_and_count() {
        let long = "x".repeat(300);
        let out = cap(vec![long; 5], 3);
        assert_eq!(out.len(), 3, "two kept and a count");
        assert!(out.iter().all(|w| w.chars().count() <= MAX_WARNING_CHARS));
        assert_eq!(out[2], "and 3 more");
        assert_eq!(cap(vec!["a".into(), "b".into()], 2), vec!["a", "b"]);
    }
}
