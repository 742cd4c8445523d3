use super::*;
use crate::load::read_str;

/// An expected line and column.
type At = Option<(usize, usize)>;

/// Two policies in one stream, a comment and a blank line between them, block and flow style.
const STREAM: &str = "\
# policies of the shop
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web
  namespace: shop
  labels: {app.kubernetes.io/name: web}
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector: {}
    - ipBlock:
        cidr: 10.0.0.0/33
        except: [10.0.1.0/24, 10.0.2.0/24]
---

apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  egress:
  - to: [{ipBlock: {cidr: 10.1.0.0/16}}]
    ports:
    - port: 0
";

#[test]
fn fields_are_found_at_their_key_or_list_entry() {
    let cases: &[(usize, &str, At, &str)] = &[
        (
            1,
            "",
            Some((2, 1)),
            "the root is the document's first key, after comments",
        ),
        (
            1,
            "spec.ingress[0].from[1].ipBlock.cidr",
            Some((14, 9)),
            "a key in block style",
        ),
        (
            1,
            "spec.ingress[0].from[1]",
            Some((13, 7)),
            "a list entry: the entry's first key",
        ),
        (
            1,
            "spec.ingress[0].from[1].ipBlock.except[1]",
            Some((15, 31)),
            "an entry of a flow list",
        ),
        (
            1,
            "metadata.labels.app.kubernetes.io/name",
            Some((7, 12)),
            "a key that holds dots",
        ),
        (
            2,
            "",
            Some((18, 1)),
            "the second document starts after the separator and a blank line",
        ),
        (
            2,
            "metadata.name",
            Some((20, 12)),
            "a key in a flow mapping",
        ),
        (
            2,
            "spec.egress[0].to[0].ipBlock.cidr",
            Some((23, 21)),
            "flow in block",
        ),
        (
            2,
            "spec.egress[0].ports[0].port",
            Some((25, 7)),
            "a nested block list",
        ),
        (
            2,
            "spec.egress[0].ports[3].port",
            Some((24, 5)),
            "a missing entry: its list's key",
        ),
        (
            2,
            "spec.ingress[0]",
            Some((21, 1)),
            "a missing field: the nearest key that is there",
        ),
        (
            2,
            "status.conditions",
            Some((18, 1)),
            "a missing top-level field: the object",
        ),
        (
            2,
            "spec.egress[0].to",
            Some((23, 5)),
            "a prefix is where the list is",
        ),
        (3, "", None, "no third document"),
    ];
    let wanted: Vec<FieldRef> = cases
        .iter()
        .map(|&(document, path, _, _)| FieldRef { document, path })
        .collect();
    let found = locate(STREAM, &wanted);
    for ((document, path, want, why), got) in cases.iter().zip(found) {
        let got = got.map(|p| (p.line, p.column));
        assert_eq!(got, *want, "document {document} {path:?}: {why}");
    }
}

#[test]
fn lists_json_and_top_level_sequences() {
    let cases: &[(&str, &str, &str, At)] = &[
        (
            "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n- kind: Pod\n  metadata:\n    name: b\n",
            "items[1].metadata.name",
            "a List item's field",
            Some((8, 5)),
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n- kind: Pod\n- kind: Pod\n",
            "items[1]",
            "a List item itself",
            Some((5, 3)),
        ),
        (
            "{\n  \"kind\": \"NetworkPolicy\",\n  \"spec\": {\n    \"ingress\": [\n      {\"from\": [{\"ipBlock\": {\"cidr\": \"x\"}}]}\n    ]\n  }\n}\n",
            "spec.ingress[0].from[0].ipBlock.cidr",
            "JSON: the quoted key",
            Some((5, 30)),
        ),
        (
            "- {from: a, to: b, port: 80}\n# a comment\n- from: c\n  to: d\n",
            "[1]",
            "an entry of a traffic file",
            Some((3, 3)),
        ),
        (
            "naïve: é\nkey: [ä, ö, x]\n",
            "key[2]",
            "columns count characters, not bytes",
            Some((2, 13)),
        ),
        (
            "base: &base {port: 80}\nuse: *base\n? [complex, key]\n: value\nafter: 1\n",
            "after",
            "anchors, aliases and complex keys do not throw the walk off",
            Some((5, 1)),
        ),
        (
            "a: 1\r\nb:\r\n  c: 2\r\n",
            "b.c",
            "CRLF line ends",
            Some((3, 3)),
        ),
    ];
    for (text, path, why, want) in cases {
        let got = locate(text, &[FieldRef { document: 1, path }])[0].map(|p| (p.line, p.column));
        assert_eq!(got, *want, "{path:?}: {why}");
    }
}

#[test]
fn a_syntax_error_keeps_what_came_before_it() {
    let text = "kind: Pod\nmetadata: {name: a}\n---\nkind: [unclosed\nmetadata: {name: b}\n---\nkind: Pod\n";
    let wanted = [
        FieldRef {
            document: 1,
            path: "metadata.name",
        },
        FieldRef {
            document: 2,
            path: "metadata.name",
        },
        FieldRef {
            document: 3,
            path: "kind",
        },
    ];
    let found = locate(text, &wanted);
    assert_eq!(
        found[0],
        Some(Position {
            line: 2,
            column: 12
        }),
        "before the error"
    );
    assert_eq!(
        found[1],
        Some(Position { line: 4, column: 1 }),
        "the broken document's root"
    );
    assert_eq!(found[2], None, "after the error");
    assert_eq!(locate("", &wanted), vec![None, None, None], "an empty text");
}

/// Document numbers are the reader's: the same document for every object, however the stream
/// separates, comments or leaves out its documents.
#[test]
fn documents_are_numbered_as_the_reader_numbers_them() {
    let streams = [
        "kind: Namespace\napiVersion: v1\nmetadata: {name: a}\n",
        "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n",
        "# only a comment\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n...\n---\n# c\napiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n---\n",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n--- \n\n\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: b\n",
        "%YAML 1.1\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    ];
    for text in streams {
        let loaded = read_str("x.yaml", text, "default");
        assert!(loaded.errors.is_empty(), "{text:?}: {:?}", loaded.errors);
        assert!(!loaded.objects.is_empty(), "{text:?}");
        let wanted: Vec<FieldRef> = loaded
            .objects
            .iter()
            .map(|o| FieldRef {
                document: o.origin.document,
                path: "metadata.name",
            })
            .collect();
        let found = locate(text, &wanted);
        for (object, at) in loaded.objects.iter().zip(found) {
            let at = at.unwrap_or_else(|| panic!("{text:?}: {:?} not found", object.origin));
            let line = text.lines().nth(at.line - 1).unwrap_or_default();
            assert!(
                line.contains(&format!("name: {}", object.object.name())),
                "{text:?}: document {} points at line {} {line:?}",
                object.origin.document,
                at.line
            );
        }
    }
}

#[test]
fn prefixes_of_a_path() {
    let cases: &[(&str, &[&str])] = &[
        ("", &[""]),
        ("spec", &["", "spec"]),
        (
            "spec.ingress[0].from",
            &[
                "",
                "spec",
                "spec.ingress",
                "spec.ingress[0]",
                "spec.ingress[0].from",
            ],
        ),
        ("[2]", &["", "[2]"]),
    ];
    for (path, want) in cases {
        assert_eq!(path_prefixes(path).collect::<Vec<_>>(), *want, "{path:?}");
    }
}

/// An object of a `List` is found under its item, through [`Origin::field_path`].
#[test]
fn objects_of_a_list_through_their_origin() {
    let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: b\n";
    let loaded = read_str("list.yaml", text, "default");
    let paths: Vec<String> = loaded
        .objects
        .iter()
        .flat_map(|o| {
            [
                o.origin.field_path(None),
                o.origin.field_path(Some("metadata.name")),
            ]
        })
        .collect();
    assert_eq!(
        paths,
        [
            "items[0]",
            "items[0].metadata.name",
            "items[1]",
            "items[1].metadata.name"
        ]
    );
    let wanted: Vec<FieldRef> = paths
        .iter()
        .map(|path| FieldRef { document: 1, path })
        .collect();
    let lines: Vec<Option<usize>> = locate(text, &wanted)
        .into_iter()
        .map(|p| p.map(|p| p.line))
        .collect();
    assert_eq!(lines, [Some(4), Some(6), Some(7), Some(10)]);
}
