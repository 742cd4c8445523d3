//! The certificate plan, as a table of situations, and six years of periodic checks.

use netpol_certs::inspect::{self, CertInfo};
use netpol_certs::plan::{Decision, Policy, Reason, plan};
use netpol_certs::{Bundle, authority, service_dns_names};
use time::{Duration, OffsetDateTime};

fn names() -> Vec<String> {
    service_dns_names("netpol-webhook", "netpol-system")
}

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn written(decision: Decision) -> (Bundle, Vec<Reason>) {
    match decision {
        Decision::Write { bundle, reasons } => (bundle, reasons),
        Decision::Keep => panic!("expected a write, got Keep"),
    }
}

fn fresh_bundle() -> Bundle {
    written(plan(None, &names(), t0(), &Policy::default()).unwrap()).0
}

fn serving(bundle: &Bundle) -> CertInfo {
    inspect::certificates(&bundle.serving.cert_pem)
        .unwrap()
        .remove(0)
}

fn authorities(bundle: &Bundle) -> Vec<CertInfo> {
    inspect::certificates(&bundle.authorities).unwrap()
}

/// What every bundle must be: a CA first, its key in ca.key, a serving certificate with the
/// names, its key, signed by a CA of the bundle, valid now.
fn assert_sound(bundle: &Bundle, now: OffsetDateTime, what: &str) {
    let cas = authorities(bundle);
    assert!(cas[0].is_ca, "{what}: first of ca.crt is a CA");
    assert!(
        cas[0].matches_key(&bundle.authority_key).unwrap(),
        "{what}: ca.key"
    );
    let leaf = serving(bundle);
    assert!(
        leaf.matches_key(&bundle.serving.key_pem).unwrap(),
        "{what}: tls.key"
    );
    assert!(!leaf.is_ca, "{what}: serving certificate is no CA");
    let mut want = names();
    want.sort();
    assert_eq!(leaf.names, want, "{what}: names");
    assert!(leaf.valid_at(now), "{what}: serving valid now");
    assert!(
        cas.iter().any(|ca| leaf.is_signed_by(ca)),
        "{what}: trusted"
    );
    assert!(
        cas.iter().all(|ca| ca.valid_at(now)),
        "{what}: no expired CA kept"
    );
}

#[test]
fn situations() {
    let policy = Policy::default();
    let base = fresh_bundle();
    let other = fresh_bundle();
    let mut foreign_leaf = base.clone();
    foreign_leaf.serving = other.serving.clone();
    let mut wrong_ca_key = base.clone();
    wrong_ca_key.authority_key = other.authority_key.clone();
    let mut wrong_tls_key = base.clone();
    wrong_tls_key.serving.key_pem = other.serving.key_pem.clone();
    let mut garbage = base.clone();
    garbage.authorities = "not a certificate".to_owned();
    let mut other_names = names();
    other_names.push("netpol.example.com".to_owned());
    let day = Duration::days(1);

    type Want = fn(&[Reason]) -> bool;
    type Stored<'a> = Option<Result<&'a Bundle, String>>;
    type Case<'a> = (
        &'a str,
        Stored<'a>,
        Vec<String>,
        OffsetDateTime,
        Option<Want>,
    );
    let cases: Vec<Case> = vec![
        (
            "no Secret",
            None,
            names(),
            t0(),
            Some(|r| r == [Reason::Missing]),
        ),
        (
            "Secret without keys",
            Some(Err("no ca.crt".into())),
            names(),
            t0(),
            Some(|r| matches!(r, [Reason::Unreadable(_)])),
        ),
        ("a day later", Some(Ok(&base)), names(), t0() + day, None),
        (
            "334 days later: 31 days left",
            Some(Ok(&base)),
            names(),
            t0() + day * 334,
            None,
        ),
        (
            "336 days later: 29 days left",
            Some(Ok(&base)),
            names(),
            t0() + day * 336,
            Some(|r| matches!(r, [Reason::ServingExpiring { .. }])),
        ),
        (
            "expired serving certificate",
            Some(Ok(&base)),
            names(),
            t0() + day * 400,
            Some(|r| matches!(r, [Reason::ServingExpiring { .. }])),
        ),
        (
            "names changed",
            Some(Ok(&base)),
            other_names.clone(),
            t0() + day,
            Some(|r| matches!(r, [Reason::NamesChanged { .. }])),
        ),
        (
            "names in another order",
            Some(Ok(&base)),
            names().into_iter().rev().collect(),
            t0() + day,
            None,
        ),
        (
            "serving certificate from another CA",
            Some(Ok(&foreign_leaf)),
            names(),
            t0() + day,
            Some(|r| r == [Reason::ServingNotTrusted]),
        ),
        (
            "ca.key of another CA",
            Some(Ok(&wrong_ca_key)),
            names(),
            t0(),
            Some(|r| matches!(r, [Reason::Unreadable(why)] if why.contains("ca.key"))),
        ),
        (
            "tls.key of another certificate",
            Some(Ok(&wrong_tls_key)),
            names(),
            t0(),
            Some(|r| matches!(r, [Reason::Unreadable(why)] if why.contains("tls.key"))),
        ),
        (
            "garbage ca.crt",
            Some(Ok(&garbage)),
            names(),
            t0(),
            Some(|r| matches!(r, [Reason::Unreadable(why)] if why.contains("ca.crt"))),
        ),
        (
            "CA within a year and a month of expiry",
            Some(Ok(&base)),
            names(),
            t0() + day * (5 * 365 - 390),
            Some(|r| {
                matches!(
                    r,
                    [
                        Reason::AuthorityExpiring { .. },
                        Reason::ServingExpiring { .. }
                    ]
                )
            }),
        ),
    ];
    for (what, current, wanted_names, now, want) in cases {
        let decision = plan(current, &wanted_names, now, &policy).unwrap();
        match (want, decision) {
            (None, Decision::Keep) => {}
            (None, Decision::Write { reasons, .. }) => panic!("{what}: wrote for {reasons:?}"),
            (Some(_), Decision::Keep) => panic!("{what}: kept"),
            (Some(want), Decision::Write { bundle, reasons }) => {
                assert!(want(&reasons), "{what}: reasons {reasons:?}");
                let mut expected = wanted_names.clone();
                expected.sort();
                assert_eq!(serving(&bundle).names, expected, "{what}: names");
                assert!(serving(&bundle).valid_at(now), "{what}: valid");
                let cas = authorities(&bundle);
                assert!(
                    cas.iter().any(|ca| serving(&bundle).is_signed_by(ca)),
                    "{what}: trusted"
                );
            }
        }
    }
}

/// Checks every 20 days for six years, writing what the plan says: the served certificate is
/// always sound, the CA rotates once with the old one kept, and a certificate is only served
/// once the bundle of the previous check already trusted its CA.
/// A webhook restarted with a shorter `--cert-validity` replaces the longer certificate it
/// finds, and then keeps the one it made.
#[test]
fn shortened_validity_replaces_a_longer_certificate() {
    let base = fresh_bundle();
    let short = Policy {
        serving_validity: Duration::seconds(30),
        renew_before: Duration::seconds(20),
        ..Policy::default()
    };
    let now = t0() + Duration::hours(1);
    let (bundle, reasons) = written(plan(Some(Ok(&base)), &names(), now, &short).unwrap());
    assert!(
        matches!(reasons.as_slice(), [Reason::ServingOutlivesPolicy { .. }]),
        "{reasons:?}"
    );
    assert_eq!(serving(&bundle).not_after, now + Duration::seconds(30));
    assert_eq!(
        plan(
            Some(Ok(&bundle)),
            &names(),
            now + Duration::seconds(5),
            &short
        )
        .unwrap(),
        Decision::Keep,
        "the fresh short certificate is kept"
    );
    let default = Policy::default();
    assert_eq!(
        plan(Some(Ok(&base)), &names(), now, &default).unwrap(),
        Decision::Keep,
        "a certificate made under the same policy is kept"
    );
}

#[test]
fn six_years_of_checks() {
    let policy = Policy::default();
    let mut now = t0();
    let mut bundle = fresh_bundle();
    let (mut serving_writes, mut authority_rotations, mut dropped) = (0, 0, 0);
    for step in 1..=(6 * 365 / 20) {
        now += Duration::days(20);
        let before = authorities(&bundle);
        let Decision::Write {
            bundle: next,
            reasons,
        } = plan(Some(Ok(&bundle)), &names(), now, &policy).unwrap()
        else {
            assert_sound(&bundle, now, &format!("step {step}, kept"));
            continue;
        };
        for reason in &reasons {
            match reason {
                Reason::ServingExpiring { .. } => serving_writes += 1,
                Reason::AuthorityExpiring { .. } => authority_rotations += 1,
                Reason::AuthorityExpired { .. } => dropped += 1,
                other => panic!("step {step}: unexpected {other:?}"),
            }
        }
        assert_sound(&next, now, &format!("step {step}"));
        let leaf = serving(&next);
        if leaf.der != serving(&bundle).der
            && !reasons
                .iter()
                .any(|r| matches!(r, Reason::AuthorityExpiring { .. }))
        {
            assert!(
                before.iter().any(|ca| leaf.is_signed_by(ca)),
                "step {step}: the new serving certificate's CA was trusted before"
            );
        }
        bundle = next;
    }
    assert_eq!(authority_rotations, 1, "one CA rotation in six years");
    assert_eq!(dropped, 1, "the old CA leaves the bundle once expired");
    assert!(
        serving_writes >= 5,
        "yearly serving renewals: {serving_writes}"
    );
}

#[test]
fn generated_pair_is_a_ca_and_a_server() {
    let now = t0();
    let ca = authority::new_authority(now, Duration::days(10)).unwrap();
    let leaf = authority::issue_serving(
        &ca,
        now + Duration::days(10),
        &["127.0.0.1".to_owned(), "localhost".to_owned()],
        now,
        Duration::days(365),
    )
    .unwrap();
    let info = inspect::certificates(&leaf.cert_pem).unwrap().remove(0);
    assert_eq!(info.names, ["127.0.0.1", "localhost"]);
    assert_eq!(
        info.not_after,
        now + Duration::days(10),
        "capped at the CA's expiry"
    );
    assert!(
        !format!("{leaf:?}").contains("PRIVATE KEY"),
        "keys never printed"
    );
}
