//! A small XML 1.0 writer for reports (JUnit): elements, attributes and text, escaped so that
//! any string a user or a cluster supplies (names, messages, walkthroughs) reads back as it was,
//! except for the characters XML 1.0 cannot hold at all.

/// An XML document being written, indented by two spaces per level.
pub struct Xml {
    out: String,
    open: Vec<&'static str>,
}

impl Xml {
    pub fn new() -> Self {
        Self {
            out: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n".to_owned(),
            open: Vec::new(),
        }
    }

    /// `<name attributes>`, closed by [`Xml::close`].
    pub fn open(&mut self, name: &'static str, attributes: &[(&str, &str)]) {
        self.start_tag(name, attributes);
        self.out.push_str(">\n");
        self.open.push(name);
    }

    /// `<name attributes/>`.
    pub fn empty(&mut self, name: &'static str, attributes: &[(&str, &str)]) {
        self.start_tag(name, attributes);
        self.out.push_str("/>\n");
    }

    /// `<name attributes>text</name>`, the text as it is (no indentation added inside).
    pub fn text(&mut self, name: &'static str, attributes: &[(&str, &str)], text: &str) {
        self.start_tag(name, attributes);
        self.out.push('>');
        self.out.push_str(&escape_text(text));
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent();
            self.out.push_str("</");
            self.out.push_str(name);
            self.out.push_str(">\n");
        }
    }

    /// The document, with every element still open closed.
    pub fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }

    fn start_tag(&mut self, name: &str, attributes: &[(&str, &str)]) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attributes {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            self.out.push_str(&escape_attribute(value));
            self.out.push('"');
        }
    }

    fn indent(&mut self) {
        self.out.push_str(&"  ".repeat(self.open.len()));
    }
}

/// Character data: markup characters as references, `>` too (so that `]]>` never appears), CR
/// as a reference (a parser would turn a raw CR into a line feed).
pub fn escape_text(text: &str) -> String {
    escape(text, false)
}

/// An attribute value in double quotes: also quotes, and tabs and line breaks as references,
/// since a parser turns raw ones into spaces.
pub fn escape_attribute(text: &str) -> String {
    escape(text, true)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\'' if attribute => out.push_str("&apos;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c if allowed(c) => out.push(c),
            // Not even a character reference may carry these in XML 1.0: the replacement
            // character shows where one was.
            _ => out.push(char::REPLACEMENT_CHARACTER),
        }
    }
    out
}

/// XML 1.0's `Char` production (a Rust `char` is never a surrogate).
fn allowed(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_quotes_breaks_and_forbidden_characters() {
        let cases: &[(&str, &str, &str, &str)] = &[
            ("a<b>&c", "a&lt;b&gt;&amp;c", "a&lt;b&gt;&amp;c", "markup"),
            (
                "say \"hi\" it's",
                "say \"hi\" it's",
                "say &quot;hi&quot; it&apos;s",
                "quotes",
            ),
            (
                "one\ntwo\tthree\r\n",
                "one\ntwo\tthree&#13;\n",
                "one&#10;two&#9;three&#13;&#10;",
                "breaks",
            ),
            ("]]>", "]]&gt;", "]]&gt;", "the end of a CDATA section"),
            (
                "nul\0 bell\u{7} esc\u{1b}[31m",
                "nul\u{FFFD} bell\u{FFFD} esc\u{FFFD}[31m",
                "nul\u{FFFD} bell\u{FFFD} esc\u{FFFD}[31m",
                "C0 controls",
            ),
            (
                "\u{FFFE}\u{FFFF}",
                "\u{FFFD}\u{FFFD}",
                "\u{FFFD}\u{FFFD}",
                "non-characters XML excludes",
            ),
            (
                "→ é 😀 \u{85}",
                "→ é 😀 \u{85}",
                "→ é 😀 \u{85}",
                "other characters stay",
            ),
        ];
        for (raw, text, attribute, why) in cases {
            assert_eq!(escape_text(raw), *text, "text: {why}");
            assert_eq!(escape_attribute(raw), *attribute, "attribute: {why}");
        }
    }

    #[test]
    fn writes_nested_elements() {
        let mut xml = Xml::new();
        xml.open("suite", &[("name", "a&b")]);
        xml.empty("case", &[("name", "one")]);
        xml.open("case", &[("name", "two")]);
        xml.text("failure", &[("message", "m")], "line 1\nline 2\n");
        assert_eq!(
            xml.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<suite name=\"a&amp;b\">\n  <case name=\"one\"/>\n  <case name=\"two\">\n    <failure message=\"m\">line 1\nline 2\n</failure>\n  </case>\n</suite>\n"
        );
    }
}
