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
