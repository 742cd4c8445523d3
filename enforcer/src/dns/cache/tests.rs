use super::*;

fn limits() -> Limits {
    Limits {
        min_ttl: 5,
        max_ttl: 600,
        per_pod: 3,
        per_node: 5,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn answer(name: &str, address: &str, ttl: u32) -> Learned {
    Learned {
        chain: NameChain::new(name, &[]),
        address: ip(address),
        ttl,
    }
}

/// What `client` sees for `address` at `at` seconds after `start`: `name ttl_left`.
fn seen(cache: &DnsCache, start: Instant, at: u64, client: &str, address: &str) -> Vec<String> {
    let mut out = Vec::new();
    cache
        .at(start + Duration::from_secs(at))
        .find(&[ip(client)], ip(address), &mut |a| {
            out.push(format!("{} {}", a.chain.queried(), a.ttl_left.unwrap_or(0)));
            false
        });
    out
}

#[test]
fn answers_live_for_their_clamped_ttl_and_only_for_their_pod() {
    let cache = DnsCache::new(limits());
    let start = cache.start;
    let web = "10.0.1.10";
    cache.learn(
        ip(web),
        &[
            answer("api.example.com", "203.0.113.5", 300),
            answer("zero.example.com", "203.0.113.6", 0),
            answer("long.example.com", "203.0.113.7", 86_400),
        ],
        start,
    );
    assert_eq!(
        seen(&cache, start, 88, web, "203.0.113.5"),
        ["api.example.com 212"]
    );
    assert_eq!(
        seen(&cache, start, 0, web, "203.0.113.6"),
        ["zero.example.com 5"],
        "min TTL"
    );
    assert_eq!(
        seen(&cache, start, 4, web, "203.0.113.6"),
        ["zero.example.com 1"]
    );
    assert!(
        seen(&cache, start, 5, web, "203.0.113.6").is_empty(),
        "expired"
    );
    assert_eq!(
        seen(&cache, start, 0, web, "203.0.113.7"),
        ["long.example.com 600"],
        "max TTL"
    );
    assert!(
        seen(&cache, start, 0, "10.0.1.11", "203.0.113.5").is_empty(),
        "another pod"
    );
    assert!(
        seen(&cache, start, 300, web, "203.0.113.5").is_empty(),
        "TTL over"
    );
    // Asked again later: the new answer replaces the old one.
    let learning = cache.learn(
        ip(web),
        &[answer("api.example.com", "203.0.113.5", 300)],
        start + Duration::from_secs(200),
    );
    assert_eq!(learning.recorded, 1);
    assert_eq!(
        seen(&cache, start, 400, web, "203.0.113.5"),
        ["api.example.com 100"]
    );
    assert_eq!(cache.len(), 2, "zero.example.com was swept on the way");
}

#[test]
fn bounds_evict_the_soonest_to_expire_of_the_pod_asking_most() {
    let cache = DnsCache::new(limits());
    let start = cache.start;
    let (web, api) = ("10.0.1.10", "10.0.1.11");
    let learn = |client: &str, name: &str, address: &str, ttl: u32| {
        cache
            .learn(ip(client), &[answer(name, address, ttl)], start)
            .evicted
    };
    assert!(learn(web, "a.example.com", "192.0.2.1", 100).is_empty());
    assert!(learn(web, "b.example.com", "192.0.2.2", 50).is_empty());
    assert!(learn(web, "c.example.com", "192.0.2.3", 200).is_empty());
    assert_eq!(
        learn(web, "d.example.com", "192.0.2.4", 300),
        [Eviction::PodLimit],
        "a fourth entry for one pod"
    );
    assert!(
        seen(&cache, start, 0, web, "192.0.2.2").is_empty(),
        "b went: soonest"
    );
    assert!(learn(api, "e.example.com", "192.0.2.5", 100).is_empty());
    assert!(learn(api, "f.example.com", "192.0.2.6", 100).is_empty());
    assert_eq!(cache.len(), 5);
    assert_eq!(
        learn(api, "g.example.com", "192.0.2.7", 100),
        [Eviction::NodeLimit],
        "the node is full"
    );
    assert!(
        seen(&cache, start, 0, web, "192.0.2.1").is_empty(),
        "web holds most: a went"
    );
    assert_eq!(
        seen(&cache, start, 0, api, "192.0.2.7"),
        ["g.example.com 100"]
    );
    assert_eq!(cache.len(), 5);
    // Expired entries make room before anything live is evicted.
    let later = start + Duration::from_secs(250);
    let learning = cache.learn(ip(api), &[answer("h.example.com", "192.0.2.8", 100)], later);
    assert!(learning.evicted.is_empty(), "{learning:?}");
    cache.retain_clients(|client| *client == ip(api));
    assert!(
        seen(&cache, start, 250, web, "192.0.2.4").is_empty(),
        "web no longer learns"
    );
    assert_eq!(cache.len(), 1, "only api's live entry");
}
