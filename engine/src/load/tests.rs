use super::*;

#[test]
fn reads_multi_document_streams_lists_and_skips_unknown_kinds() {
    let text = r#"
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web, labels: {app: web}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings, namespace: shop}
---
{"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"}, "spec": {}}
"#;
    let loaded = read_str("input.yaml", text, "default");
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let names: Vec<String> = loaded
        .objects
        .iter()
        .map(|o| o.object.display_name())
        .collect();
    assert_eq!(
        names,
        [
            "Namespace shop",
            "Pod default/web",
            "NetworkPolicy shop/deny"
        ]
    );
    assert_eq!(loaded.skipped.len(), 1);
    assert_eq!(loaded.skipped[0].kind, "ConfigMap");
    assert_eq!(loaded.skipped[0].origin.item, Some(1));
    assert_eq!(loaded.objects[1].origin.document, 2);
}

#[test]
fn errors_name_file_document_object_and_field() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: x}\nspec:\n  ingress:\n  - ports:\n    - port: [1]\n";
    let loaded = read_str("policies.yaml", text, "default");
    assert_eq!(loaded.objects.len(), 1);
    let err = &loaded.errors[0];
    assert_eq!(err.origin.document, 2);
    assert_eq!(err.origin.line, Some(5));
    assert_eq!(err.object.as_deref(), Some("NetworkPolicy x/bad"));
    assert_eq!(err.field.as_deref(), Some("spec.ingress[0].ports[0].port"));
    let text = err.to_string();
    assert!(
        text.starts_with(
            "policies.yaml:5 (document 2) NetworkPolicy x/bad: field spec.ingress[0].ports[0].port"
        ),
        "{text}"
    );
}

#[test]
fn malformed_yaml_reports_the_line() {
    let loaded = read_str(
        "broken.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n",
        "default",
    );
    assert_eq!(loaded.errors.len(), 1);
    let err = &loaded.errors[0];
    assert!(err.message.starts_with("malformed YAML"), "{}", err.message);
    assert!(err.origin.line.is_some());
}

#[test]
fn missing_kind_name_and_non_objects_are_errors() {
    let cases = [
        ("metadata: {name: x}\n", "missing kind"),
        (
            "apiVersion: v1\nkind: Pod\nmetadata: {}\n",
            "missing metadata.name",
        ),
        ("- a\n- b\n", "expected a Kubernetes object"),
    ];
    for (text, want) in cases {
        let loaded = read_str("x.yaml", text, "default");
        assert_eq!(loaded.errors.len(), 1, "{text}");
        assert!(
            loaded.errors[0].to_string().contains(want),
            "{} should contain {want}",
            loaded.errors[0]
        );
    }
}

#[test]
fn long_lists_keep_item_order_and_origins() {
    let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for i in 0..5000 {
        if i == 3333 {
            text.push_str("- {apiVersion: v1, kind: Pod, metadata: {name: broken, namespace: x}, spec: {containers: 7}}\n");
        } else {
            text.push_str(&format!(
                "- {{apiVersion: v1, kind: Pod, metadata: {{name: p{i}, namespace: x}}}}\n"
            ));
        }
    }
    assert_pods_in_order(&read_str("big.yaml", &text, "default"));
}

/// Pods p0…p4999 but for item 3333, which is broken: each read with its own list index.
fn assert_pods_in_order(loaded: &Loaded) {
    assert_eq!(loaded.objects.len(), 4999);
    assert_eq!(loaded.errors.len(), 1);
    assert_eq!(loaded.errors[0].origin.item, Some(3333));
    assert_eq!(loaded.errors[0].field.as_deref(), Some("spec.containers"));
    for (n, located) in loaded.objects.iter().enumerate() {
        let i = if n < 3333 { n } else { n + 1 };
        assert_eq!(located.object.name(), format!("p{i}"));
        assert_eq!(located.origin.item, Some(i));
    }
}

#[test]
fn json_lists_read_like_yaml_lists() {
    let yaml = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Pod, metadata: {name: a, namespace: x}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: c, namespace: x}}\n- {apiVersion: v1, kind: Pod, metadata: {name: b, namespace: x}, spec: {containers: 7}}\n";
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "x"}, "spec": {"containers": 7}}]}"#;
    let (from_yaml, from_json) = (
        read_str("f", yaml, "default"),
        read_str("f", json, "default"),
    );
    let names = |l: &Loaded| {
        l.objects
            .iter()
            .map(|o| o.object.display_name())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&from_yaml), names(&from_json));
    assert_eq!(from_yaml.skipped.len(), from_json.skipped.len());
    let fields = |l: &Loaded| {
        l.errors
            .iter()
            .map(|e| (e.origin.item, e.field.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(&from_yaml), fields(&from_json));
    assert_eq!(
        fields(&from_json),
        [(Some(2), Some("spec.containers".to_owned()))]
    );
    // Broken JSON goes through the YAML reader and its line numbers.
    let broken = read_str("f", "{\"apiVersion\": \"v1\",\n \"kind\": ", "default");
    assert_eq!(broken.errors.len(), 1);
    assert!(
        broken.errors[0].message.starts_with("malformed YAML/JSON"),
        "{}",
        broken.errors[0].message
    );
}

#[test]
fn long_json_lists_are_read_item_by_item_in_order() {
    // kubectl prints `items` before `kind`; the list spans several hand-over batches.
    let mut items = Vec::new();
    for i in 0..5000 {
        items.push(if i == 3333 {
            r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "broken", "namespace": "x"}, "spec": {"containers": 7}}"#.to_owned()
        } else {
            format!(
                r#"{{"apiVersion": "v1", "kind": "Pod", "metadata": {{"name": "p{i}", "namespace": "x"}}}}"#
            )
        });
    }
    let text = format!(
        r#"{{"apiVersion": "v1", "items": [{}], "kind": "PodList", "metadata": {{"resourceVersion": "7"}}}}"#,
        items.join(",\n")
    );
    assert_pods_in_order(&read_str("big.json", &text, "default"));
}

#[test]
fn json_list_edges() {
    // Short texts are parsed whole; the item-by-item reader of long ones must agree with that
    // wherever it reads the text at all.
    let read = |text: &str| {
        let whole = read_str("f.json", text, "default");
        let origin = Origin::new("f.json", 1, Some(1));
        if let Some(streamed) = super::json_list::read(&origin, text, "default") {
            assert_eq!(format!("{streamed:?}"), format!("{whole:?}"), "{text}");
        }
        whole
    };
    // No items, or null: an empty list, not an error.
    assert!(
        read(r#"{"apiVersion": "v1", "kind": "List"}"#)
            .errors
            .is_empty()
    );
    let null = read(r#"{"apiVersion": "v1", "kind": "List", "items": null}"#);
    assert!(null.errors.is_empty() && null.objects.is_empty());
    // A list without an apiVersion is named for it, as any object is.
    let unversioned = read(r#"{"apiVersion": "", "kind": "List", "items": []}"#);
    assert_eq!(unversioned.errors.len(), 1);
    assert_eq!(unversioned.errors[0].field.as_deref(), Some("apiVersion"));
    // Items that are not a list name the field.
    for items in [r#"{"a": 1}"#, "7", r#""pods""#, "true"] {
        let loaded = read(&format!(
            r#"{{"apiVersion": "v1", "kind": "List", "items": {items}}}"#
        ));
        assert_eq!(loaded.errors.len(), 1, "{items}");
        assert_eq!(loaded.errors[0].field.as_deref(), Some("items"), "{items}");
    }
    // An object that is not a list keeps its own kind, even with an `items` field.
    let other = read(
        r#"{"apiVersion": "v1", "kind": "ConfigMap", "items": [{"kind": "Pod"}], "metadata": {"name": "c"}}"#,
    );
    assert!(other.objects.is_empty() && other.errors.is_empty());
    assert_eq!(other.skipped.len(), 1);
    assert_eq!(other.skipped[0].kind, "ConfigMap");
    // A single JSON object.
    let pod =
        read(r#"{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"}}"#);
    assert_eq!(pod.objects.len(), 1);
    // Broken JSON after many items: the YAML reader's error, nothing half-read.
    let broken = read(
        r#"{"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}, {"#,
    );
    assert!(broken.objects.is_empty());
    assert_eq!(broken.errors.len(), 1);
}

#[test]
fn json_values_of_a_later_page_keep_their_list_index() {
    let items = vec![
        serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": "x"}}),
        serde_json::json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "b", "namespace": "x"}, "spec": {"containers": 7}}),
    ];
    let loaded = super::read_json_values("cluster pods", 500, items, "default");
    assert_eq!(loaded.objects[0].origin.item, Some(500));
    assert_eq!(loaded.errors[0].origin.item, Some(501));
    assert!(
        loaded.errors[0]
            .to_string()
            .starts_with("cluster pods (document 1, items[501]) Pod x/b"),
        "{}",
        loaded.errors[0]
    );
}
