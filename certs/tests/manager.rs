//! The manager against a fake API server (a tower service holding a Secret and a webhook
//! configuration, with resourceVersion checks): creation, the caBundle, idle checks, renewal,
//! two replicas racing, and errors that name what failed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Secret;
use kube::Client;
use netpol_certs::inspect;
use netpol_certs::{CertsError, Manager, Policy, Target, service_dns_names};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};

const SECRETS: &str = "/api/v1/namespaces/netpol-system/secrets";
const SECRET: &str = "/api/v1/namespaces/netpol-system/secrets/netpol-webhook-tls";
const CONFIG: &str = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/netpol";

/// Runs before a write is stored: lets a test act as another replica in between.
type Interleave = Box<dyn FnMut(&mut Objects) + Send>;

#[derive(Default)]
struct Objects {
    by_path: BTreeMap<String, Value>,
    version: u64,
    writes: Vec<(Method, String)>,
    forbid_secrets: bool,
    interleave: Option<Interleave>,
}

impl Objects {
    fn store(&mut self, path: &str, mut object: Value) -> Value {
        self.version += 1;
        object["metadata"]["resourceVersion"] = json!(self.version.to_string());
        self.by_path.insert(path.to_owned(), object.clone());
        object
    }
}

fn status(code: StatusCode, reason: &str) -> (StatusCode, Value) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": format!("fake: {reason}"), "reason": reason, "code": code.as_u16()});
    (code, body)
}

fn answer(objects: &mut Objects, method: &Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
    if objects.forbid_secrets && path.starts_with(SECRETS) {
        return status(StatusCode::FORBIDDEN, "Forbidden");
    }
    if *method == Method::GET {
        return match objects.by_path.get(path) {
            Some(object) => (StatusCode::OK, object.clone()),
            None => status(StatusCode::NOT_FOUND, "NotFound"),
        };
    }
    if let Some(mut hook) = objects.interleave.take() {
        hook(objects);
    }
    let object: Value = serde_json::from_slice(body).expect("JSON body");
    objects.writes.push((method.clone(), path.to_owned()));
    if *method == Method::POST {
        let name = object["metadata"]["name"].as_str().unwrap();
        let at = format!("{path}/{name}");
        if objects.by_path.contains_key(&at) {
            return status(StatusCode::CONFLICT, "AlreadyExists");
        }
        return (StatusCode::CREATED, objects.store(&at, object));
    }
    if *method == Method::PUT {
        let stored = objects
            .by_path
            .get(path)
            .map(|o| o["metadata"]["resourceVersion"].clone());
        return match stored {
            None => status(StatusCode::NOT_FOUND, "NotFound"),
            Some(version) if version != object["metadata"]["resourceVersion"] => {
                status(StatusCode::CONFLICT, "Conflict")
            }
            Some(_) => (StatusCode::OK, objects.store(path, object)),
        };
    }
    status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed")
}

fn client(objects: Arc<Mutex<Objects>>) -> Client {
    let service = tower::service_fn(move |request: Request<kube::client::Body>| {
        let objects = objects.clone();
        async move {
            let (parts, body) = request.into_parts();
            let body = body.collect().await?.to_bytes();
            let (code, value) = answer(
                &mut objects.lock().unwrap(),
                &parts.method,
                parts.uri.path(),
                &body,
            );
            let response = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(value.to_string())))
                .unwrap();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(response)
        }
    });
    Client::new(service, "default")
}

fn webhook_configuration() -> Value {
    let hook = |name: &str| {
        json!({"name": name, "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        "clientConfig": {"service": {"name": "netpol-webhook", "namespace": "netpol-system", "path": "/validate"}}})
    };
    json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "netpol"},
        "webhooks": [hook("admin-policies.netpol.io"), hook("network-policies.netpol.io")]})
}

fn cluster() -> Arc<Mutex<Objects>> {
    let mut objects = Objects::default();
    objects.store(CONFIG, webhook_configuration());
    Arc::new(Mutex::new(objects))
}

fn manager(objects: &Arc<Mutex<Objects>>, webhook_configuration: &str) -> Manager {
    let target = Target {
        namespace: "netpol-system".to_owned(),
        secret: "netpol-webhook-tls".to_owned(),
        webhook_configuration: Some(webhook_configuration.to_owned()),
        names: service_dns_names("netpol-webhook", "netpol-system"),
    };
    Manager::new(client(objects.clone()), target, Policy::default())
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn stored<T: k8s_openapi::serde::de::DeserializeOwned>(
    objects: &Arc<Mutex<Objects>>,
    path: &str,
) -> T {
    serde_json::from_value(objects.lock().unwrap().by_path[path].clone()).unwrap()
}

#[tokio::test]
async fn creates_then_keeps_then_renews() {
    let objects = cluster();
    let manager = manager(&objects, "netpol");

    let first = manager.reconcile(t0()).await.unwrap();
    assert!(!first.wrote.is_empty());
    assert_eq!(first.ca_bundle_updated, 2, "both webhooks get the caBundle");
    let secret: Secret = stored(&objects, SECRET);
    assert_eq!(secret.type_.as_deref(), Some("kubernetes.io/tls"));
    assert_eq!(
        secret.data.unwrap()["tls.crt"].0,
        first.bundle.serving.cert_pem.as_bytes()
    );
    let config: ValidatingWebhookConfiguration = stored(&objects, CONFIG);
    for hook in config.webhooks.unwrap() {
        assert_eq!(
            hook.client_config.ca_bundle.unwrap().0,
            first.bundle.authorities.as_bytes()
        );
    }
    let writes = objects.lock().unwrap().writes.len();
    assert_eq!(writes, 2, "one Secret create, one configuration update");

    let idle = manager.reconcile(t0() + Duration::days(1)).await.unwrap();
    assert!(idle.wrote.is_empty() && idle.ca_bundle_updated == 0);
    assert_eq!(idle.bundle, first.bundle);
    assert_eq!(
        objects.lock().unwrap().writes.len(),
        writes,
        "an idle check writes nothing"
    );

    let renewed = manager.reconcile(t0() + Duration::days(340)).await.unwrap();
    assert_ne!(renewed.bundle.serving, first.bundle.serving);
    assert_eq!(
        renewed.bundle.authorities, first.bundle.authorities,
        "same CA"
    );
    assert_eq!(renewed.ca_bundle_updated, 0);
    assert_eq!(
        objects.lock().unwrap().writes.last().unwrap().0,
        Method::PUT
    );
}

#[tokio::test]
async fn racing_replicas_agree_on_one_secret() {
    let objects = cluster();
    let first = manager(&objects, "netpol");
    let second = manager(&objects, "netpol");
    // The other replica creates the Secret between our read and our create.
    let other = Arc::new(Mutex::new(None));
    let seen = other.clone();
    objects.lock().unwrap().interleave = Some(Box::new(move |objects: &mut Objects| {
        let ca = netpol_certs::authority::new_authority(t0(), Duration::days(1000)).unwrap();
        let serving = netpol_certs::authority::issue_serving(
            &ca,
            t0() + Duration::days(1000),
            &service_dns_names("netpol-webhook", "netpol-system"),
            t0(),
            Duration::days(365),
        )
        .unwrap();
        let bundle = netpol_certs::Bundle {
            authorities: ca.cert_pem,
            authority_key: ca.key_pem,
            serving,
        };
        let data: BTreeMap<String, String> = bundle
            .to_secret_data()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8(v.0).unwrap()))
            .collect();
        objects.store(
            SECRET,
            json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "netpol-webhook-tls", "namespace": "netpol-system"},
            "type": "kubernetes.io/tls", "stringData": {}, "data": encode(&data)}),
        );
        *seen.lock().unwrap() = Some(bundle);
    }));
    let ours = first.reconcile(t0()).await.unwrap();
    let theirs = other
        .lock()
        .unwrap()
        .clone()
        .expect("the other replica wrote");
    assert_eq!(
        ours.bundle, theirs,
        "after the conflict, the stored bundle is used"
    );
    assert!(ours.wrote.is_empty());
    let again = second.reconcile(t0()).await.unwrap();
    assert_eq!(again.bundle, theirs);
    let leaf = inspect::certificates(&ours.bundle.serving.cert_pem)
        .unwrap()
        .remove(0);
    assert!(leaf.valid_at(t0()));
}

fn encode(data: &BTreeMap<String, String>) -> Value {
    // Secret data is base64 in JSON: let k8s-openapi do it.
    let secret = Secret {
        data: Some(
            data.iter()
                .map(|(k, v)| (k.clone(), k8s_openapi::ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    serde_json::to_value(secret).unwrap()["data"].clone()
}

#[tokio::test]
async fn errors_name_what_failed() {
    let objects = cluster();
    let missing = manager(&objects, "no-such-config")
        .reconcile(t0())
        .await
        .unwrap_err();
    assert!(
        matches!(missing, CertsError::NoWebhookConfiguration(ref name) if name == "no-such-config")
    );
    assert_eq!(
        missing.to_string(),
        "ValidatingWebhookConfiguration no-such-config does not exist"
    );

    objects.lock().unwrap().forbid_secrets = true;
    let forbidden = manager(&objects, "netpol")
        .reconcile(t0())
        .await
        .unwrap_err();
    let text = forbidden.to_string();
    assert!(
        text.starts_with("reading Secret netpol-system/netpol-webhook-tls:"),
        "{text}"
    );
}

#[tokio::test]
async fn unusable_secret_is_replaced() {
    let objects = cluster();
    objects.lock().unwrap().store(
        SECRET,
        json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "netpol-webhook-tls", "namespace": "netpol-system"},
        "data": {"tls.crt": "bm90IGEgY2VydA=="}}),
    );
    let outcome = manager(&objects, "netpol").reconcile(t0()).await.unwrap();
    assert!(
        matches!(outcome.wrote.as_slice(), [netpol_certs::Reason::Unreadable(why)] if why.contains("ca.crt"))
    );
    let secret: Secret = stored(&objects, SECRET);
    assert_eq!(secret.data.unwrap().len(), 4);
}
