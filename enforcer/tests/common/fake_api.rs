//! A tiny Kubernetes API server on loopback for the reflectors: lists by path, paged as a
//! real server pages them (`limit` and `continue`), and watches (`watch=true`) that send the
//! given events and then stay open, as a quiet watch does. Paths it does not know answer 404.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

pub struct FakeApiServer {
    pub url: String,
}

/// A list response (`items` may be paged) or any other JSON document, by path.
pub type Lists = BTreeMap<String, Value>;
/// Watch events sent on `watch=true`, by path.
pub type Watches = BTreeMap<String, Vec<Value>>;

impl FakeApiServer {
    pub fn start(lists: Lists, watches: Watches) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let routes = Arc::new((lists, watches));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let routes = routes.clone();
                std::thread::spawn(move || serve(stream, &routes.0, &routes.1));
            }
        });
        Self { url }
    }
}

/// The list document a kind's path answers with.
pub fn list(api_version: &str, kind: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api_version, "kind": format!("{kind}List"), "metadata": {"resourceVersion": "1"}, "items": items})
}

fn serve(mut stream: TcpStream, lists: &Lists, watches: &Watches) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|q| q.strip_prefix(name)?.strip_prefix('='))
    };
    if matches!(param("watch"), Some("true" | "1")) {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
        );
        for event in watches.get(path).into_iter().flatten() {
            let _ = writeln!(stream, "{event}");
        }
        let _ = stream.flush();
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let (code, body) = match lists.get(path) {
        Some(document) => (200, page(document, param("limit"), param("continue"))),
        None => (404, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}).to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// One page of a list: `limit` items from the offset `continue` carries, with the next
/// offset in `metadata.continue` while items remain.
fn page(document: &Value, limit: Option<&str>, from: Option<&str>) -> String {
    let Some(items) = document["items"].as_array() else {
        return document.to_string();
    };
    let from: usize = from.and_then(|c| c.parse().ok()).unwrap_or(0);
    let limit: usize = limit.and_then(|l| l.parse().ok()).unwrap_or(usize::MAX);
    let end = from.saturating_add(limit).min(items.len());
    let mut metadata = json!({"resourceVersion": "1"});
    if end < items.len() {
        metadata["continue"] = json!(end.to_string());
    }
    let mut out = serde_json::Map::new();
    for (key, value) in document.as_object().into_iter().flatten() {
        if key != "items" && key != "metadata" {
            out.insert(key.clone(), value.clone());
        }
    }
    out.insert("metadata".into(), metadata);
    out.insert(
        "items".into(),
        Value::Array(items[from.min(end)..end].to_vec()),
    );
    Value::Object(out).to_string()
}
