//! Completion for `kubectl netpol <TAB>`: kubectl (1.26+) runs `kubectl_complete-netpol` with
//! the words typed so far; that script calls `kubectl-netpol __complete`, which answers in
//! cobra's format: one candidate per line, then `:<directive>`.

use clap::CommandFactory;

use crate::cli::Cli;

/// cobra's ShellCompDirectiveNoFileComp: do not fall back to file names.
const NO_FILE_COMPLETION: u8 = 4;
/// cobra's ShellCompDirectiveDefault: let the shell complete file names.
const DEFAULT: u8 = 0;

pub fn candidates(words: &[String]) -> String {
    let command = Cli::command();
    let (current, before) = match words.split_last() {
        Some((last, rest)) => (last.as_str(), rest),
        None => ("", &[][..]),
    };
    let subcommand = before.iter().find_map(|w| command.find_subcommand(w));
    let mut out = String::new();
    let directive = match subcommand {
        None => {
            for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
                if sub.get_name().starts_with(current) {
                    out.push_str(&format!(
                        "{}\t{}\n",
                        sub.get_name(),
                        sub.get_about().map(|a| a.to_string()).unwrap_or_default()
                    ));
                }
            }
            NO_FILE_COMPLETION
        }
        Some(sub) => {
            // After -f or --filename (or --traffic, --base, --flows, --kubeconfig), complete paths.
            let previous = before.last().map(String::as_str).unwrap_or_default();
            let values = sub
                .get_arguments()
                .find(|a| {
                    a.get_long().is_some_and(|l| previous == format!("--{l}"))
                        || a.get_short().is_some_and(|s| previous == format!("-{s}"))
                })
                .map(|a| a.get_possible_values())
                .filter(|values| !values.is_empty());
            if [
                "-f",
                "--filename",
                "--traffic",
                "--base",
                "--flows",
                "--kubeconfig",
            ]
            .contains(&previous)
            {
                DEFAULT
            } else if let Some(values) = values {
                // A flag with a fixed set of values (-o, --protocol, --fail-on): this
                // subcommand's own, so `check -o` offers junit and `lint -o` sarif.
                for value in values.iter().filter(|v| !v.is_hide_set()) {
                    if value.get_name().starts_with(current) {
                        out.push_str(&format!(
                            "{}\t{}\n",
                            value.get_name(),
                            value.get_help().map(|h| h.to_string()).unwrap_or_default()
                        ));
                    }
                }
                NO_FILE_COMPLETION
            } else {
                for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                    if let Some(long) = arg.get_long() {
                        let flag = format!("--{long}");
                        if flag.starts_with(current) {
                            out.push_str(&format!(
                                "{flag}\t{}\n",
                                arg.get_help().map(|h| h.to_string()).unwrap_or_default()
                            ));
                        }
                    }
                }
                NO_FILE_COMPLETION
            }
        }
    };
    out.push_str(&format!(":{directive}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn completes_subcommands_flags_and_paths() {
        let subcommands = candidates(&words("ch"));
        assert!(subcommands.starts_with("check\t"), "{subcommands}");
        assert!(subcommands.ends_with(":4\n"));
        let flags = candidates(&words("check --fr"));
        assert!(flags.starts_with("--from\t"), "{flags}");
        assert_eq!(candidates(&words("check -f ")), ":0\n");
        assert!(!candidates(&words("")).contains("__complete"));
        // Each subcommand offers its own output formats.
        let check = candidates(&words("check -o "));
        assert!(
            check.contains("junit\t") && !check.contains("sarif"),
            "{check}"
        );
        let lint = candidates(&words("lint --output s"));
        assert!(
            lint.starts_with("sarif\t") && lint.ends_with(":4\n"),
            "{lint}"
        );
        assert!(candidates(&words("check --protocol ")).contains("icmp\t"));
    }
}
