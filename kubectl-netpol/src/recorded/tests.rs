//! One line of each shape a recorder writes, and what it must read as.

use super::*;

fn pod(namespace: &str, name: &str) -> End {
    End::Pod {
        namespace: namespace.into(),
        name: name.into(),
    }
}

fn address(ip: &str) -> End {
    End::Address(ip.parse().unwrap())
}

/// The ends, protocol and port of a flow.
type Tuple = (End, End, Protocol, u16);

/// The ends, protocol and port of a line read as a flow.
fn flow_of(line: Line) -> Tuple {
    match line {
        Line::Flow(f) | Line::Packet { flow: f, .. } => (f.from, f.to, f.protocol, f.port),
        other => panic!("not a flow: {other:?}"),
    }
}

#[test]
fn flows_of_each_format() {
    let cases: &[(&str, Tuple, &str)] = &[
        (
            r#"{"from":"shop/web-1","fromIp":"10.0.0.1","to":"payments/gw-0","toIp":"10.0.1.5","protocol":"TCP","port":8443,"audit":{"policy":"x"}}"#,
            (
                pod("shop", "web-1"),
                pod("payments", "gw-0"),
                Protocol::Tcp,
                8443,
            ),
            "observe: pods by name, extra fields ignored",
        ),
        (
            r#"{"from":"203.0.113.9","fromIp":"203.0.113.9","to":"shop/web-1","toIp":"10.0.0.1","protocol":"udp","port":53}"#,
            (
                address("203.0.113.9"),
                pod("shop", "web-1"),
                Protocol::Udp,
                53,
            ),
            "observe: an address as from",
        ),
        (
            r#"{"fromIp":"10.0.0.1","toIp":"fd00::5","protocol":"ICMPv6","port":0}"#,
            (address("10.0.0.1"), address("fd00::5"), Protocol::Icmp, 0),
            "observe: addresses only, ICMPv6 portless",
        ),
        (
            r#"{"flow":{"IP":{"source":"10.0.0.1","destination":"10.0.1.5"},"l4":{"SCTP":{"source_port":3868,"destination_port":3868}},"source":{"namespace":"shop","pod_name":"web-1"},"destination":{"identity":2,"labels":["reserved:world"]},"is_reply":false}}"#,
            (
                pod("shop", "web-1"),
                address("10.0.1.5"),
                Protocol::Sctp,
                3868,
            ),
            "hubble: a reserved identity is its address",
        ),
        (
            r#"{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"ICMPv6":{"type":128}},"Type":"L3_L4"}"#,
            (address("10.0.0.1"), address("10.0.0.2"), Protocol::Icmp, 0),
            "hubble: a bare flow (older hubble)",
        ),
        (
            r#"{"ts":1.5e12,"msg":"Evaluating packet","id":4,"direction":"Egress","srcPod":"external","dstPod":"shop/web-1","packet":{"ID":4,"SrcIP":"198.51.100.1","DstIP":"10.0.0.1","Proto":"TCP","SrcPort":5000,"DstPort":8080}}"#,
            (
                address("198.51.100.1"),
                pod("shop", "web-1"),
                Protocol::Tcp,
                8080,
            ),
            "kube-network-policies: external is the address",
        ),
    ];
    for (text, want, what) in cases {
        let got = flow_of(parse_line(text).unwrap_or_else(|e| panic!("{what}: {e}")));
        assert_eq!(&got, want, "{what}");
    }
}

#[test]
fn records_that_are_not_new_connections() {
    let cases: &[(&str, Skip, &str)] = &[
        (
            r#"{"flow":{"IP":{"source":"10.0.1.5","destination":"10.0.0.1"},"l4":{"TCP":{"source_port":8443,"destination_port":40000}},"is_reply":true}}"#,
            Skip::HubbleReply,
            "hubble reply",
        ),
        (
            r#"{"flow":{"IP":{"source":"10.0.1.5","destination":"10.0.0.1"},"l4":{"TCP":{"destination_port":80}},"reply":true}}"#,
            Skip::HubbleReply,
            "hubble reply, the deprecated field",
        ),
        (
            r#"{"flow":{"IP":{"source":"10.0.0.1","destination":"10.96.0.10"},"l4":{"UDP":{"destination_port":53}},"Type":"SOCK"}}"#,
            Skip::HubbleSocketTrace,
            "hubble socket trace",
        ),
        (
            r#"{"flow":{"ethernet":{"source":"a","destination":"b"},"Type":"L3_L4"}}"#,
            Skip::HubbleNotIp,
            "hubble without IP",
        ),
        (
            r#"{"lost_events":{"source":"HUBBLE_RING_BUFFER","num_events_lost":"7"}}"#,
            Skip::HubbleLostEvents,
            "hubble lost events",
        ),
        (
            r#"{"node_status":{"state_change":"NODE_CONNECTED"},"node_name":"n"}"#,
            Skip::HubbleOtherEvent,
            "hubble node status",
        ),
        (
            r#"{"msg":"Evaluating packet","ts":1,"id":4,"direction":"Ingress","srcPod":"a/b","dstPod":"c/d","packet":{}}"#,
            Skip::KnpIngressEntry,
            "knp ingress entry",
        ),
        (
            r#"{"msg":"Evaluating packet","ts":1,"id":5,"direction":"Egress","srcPod":"a/b","dstPod":"c/d","packet":{"SrcIP":"10.0.0.1","DstIP":"10.0.0.2","Proto":"","DstPort":0}}"#,
            Skip::KnpNoPorts,
            "knp packet without ports",
        ),
        (
            r#"{"ts":1,"caller":"x.go:1","msg":"Syncing nftables rules","id":"not-a-number"}"#,
            Skip::KlogOther,
            "another klog line, whatever its fields",
        ),
    ];
    for (text, want, what) in cases {
        match parse_line(text) {
            Ok(Line::Skipped(got)) => assert_eq!(got, *want, "{what}"),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn verdicts_as_recorded() {
    let verdict = |text: &str| match parse_line(text).unwrap() {
        Line::Flow(f) => f.verdict,
        other => panic!("{other:?}"),
    };
    let observe = |v: &str, d: &str| {
        format!(
            r#"{{"fromIp":"10.0.0.1","toIp":"10.0.0.2","protocol":"TCP","port":1,"verdict":"{v}","direction":"{d}"}}"#
        )
    };
    let hubble = |v: &str, reason: &str| {
        format!(
            r#"{{"flow":{{"IP":{{"source":"10.0.0.1","destination":"10.0.0.2"}},"l4":{{"TCP":{{"destination_port":1}}}},"verdict":"{v}","drop_reason_desc":"{reason}","traffic_direction":"INGRESS"}}}}"#
        )
    };
    let at =
        |allowed: bool, direction: Option<Direction>| Some(RecordedVerdict { allowed, direction });
    let cases = [
        (
            observe("denied", "ingress"),
            at(false, Some(Direction::Ingress)),
            "observe denied at ingress",
        ),
        (
            observe("allowed", "egress"),
            at(true, Some(Direction::Egress)),
            "observe allowed at egress",
        ),
        (
            observe("would-deny", "egress"),
            None,
            "an audit verdict is not the dataplane's",
        ),
        (
            hubble("DROPPED", "POLICY_DENIED"),
            at(false, Some(Direction::Ingress)),
            "hubble policy drop",
        ),
        (
            hubble("DROPPED", "CT_MAP_INSERTION_FAILED"),
            None,
            "a drop that is not policy",
        ),
        (
            hubble("FORWARDED", ""),
            at(true, Some(Direction::Ingress)),
            "hubble forwarded",
        ),
        (hubble("AUDIT", ""), None, "hubble audit"),
    ];
    for (text, want, what) in cases {
        assert_eq!(verdict(&text), want, "{what}");
    }
    match parse_line(r#"{"ts":1,"msg":"Packet denied by ingress policy","v":2,"id":9}"#) {
        Ok(Line::PacketVerdict {
            id: 9,
            allowed: false,
        }) => {}
        other => panic!("knp verdict entry: {other:?}"),
    }
}

#[test]
fn lines_that_cannot_be_read_say_why() {
    let cases = [
        (
            "I1203 19:30:00 1 main.go:1] started",
            "not JSON: ",
            "a text log line",
        ),
        ("[1,2]", "not a JSON object", "an array"),
        (
            r#"{"kind":"Pod"}"#,
            "JSON, but not a flow of a known format",
            "another JSON document",
        ),
        (
            r#"{"from":"shop/web-1","fromIp":"10.0.0.1","to":"payments/gw-0","toIp":"10.0.1.5","protocol":"TCP","port":70000}"#,
            "netpol observe event: port: invalid value: integer `70000`",
            "a port out of range, the field named",
        ),
        (
            r#"{"from":"a/b/c","fromIp":"10.0.0.1","toIp":"10.0.1.5","protocol":"TCP","port":1}"#,
            "netpol observe event: from \"a/b/c\" is neither namespace/pod nor an address",
            "a from that is not a pod",
        ),
        (
            r#"{"fromIp":"10.0.0.1","toIp":"10.0.1.5","protocol":"TCP","port":0}"#,
            "netpol observe event: port 0 with TCP",
            "TCP without a port",
        ),
        (
            r#"{"fromIp":"10.0.0.1","toIp":"10.0.1.5","protocol":"TCP","port":1,"time":"yesterday"}"#,
            "netpol observe event: time \"yesterday\" is not an RFC 3339 time",
            "a time that is not one",
        ),
        (
            r#"{"flow":{"IP":{"source":"10.0.0.1","destination":"nowhere"},"l4":{"TCP":{"destination_port":1}}}}"#,
            "hubble flow: flow.IP.destination: invalid IP address syntax",
            "a hubble address that is not one",
        ),
        (
            r#"{"flow":{"IP":{"source":"10.0.0.1","destination":"10.0.0.2"},"l4":{"UDP":{"source_port":5}}}}"#,
            "hubble flow: UDP without a destination_port",
            "hubble UDP without a destination port",
        ),
        (
            r#"{"msg":"Evaluating packet","ts":1,"direction":"Egress","srcPod":"external","dstPod":"external","packet":{"SrcIP":"10.0.0.1","Proto":"TCP","DstPort":80}}"#,
            "kube-network-policies packet entry: no packet.DstIP",
            "knp without a destination",
        ),
    ];
    for (text, want, what) in cases {
        match parse_line(text) {
            Err(reason) => assert!(reason.starts_with(want), "{what}: {reason}"),
            Ok(line) => panic!("{what}: read as {line:?}"),
        }
    }
}
