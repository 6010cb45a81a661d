//! A few hundred malformed requests: each gets PVE's kind of answer (4xx/5xx with a message),
//! never a crash, and the simulator keeps serving.

use proxmox_mpc::sim::TokenKind;

use super::common::{Api, homelab, http};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_answers_and_the_server_keeps_serving() {
    let sim = homelab(false).await;
    let api = Api::new(&sim, TokenKind::Full);
    let client = http();
    let base = format!("{}/api2/json", sim.url());
    let mut sent = 0;

    // wrong types, out-of-range and huge values on typed parameters
    // invalid for every parameter below
    let bad_everywhere = [
        "abc",
        "-1",
        "1.5x",
        "",
        " ",
        "100abc",
        "0x64",
        "NaN",
        "true",
        "yes",
        "%00",
        "\u{0}",
        "💥",
        "'; DROP TABLE vms; --",
    ];
    // invalid for integer parameters only
    let bad_integers = [
        "1.5",
        "1e3",
        "99999999999999999999999",
        "-99999999999999999999999",
    ];
    let targets = [
        ("GET", "/cluster/nextid", "vmid", true),
        ("POST", "/nodes/pve1/qemu", "vmid", true),
        ("PUT", "/nodes/pve1/qemu/100/config", "cores", true),
        ("PUT", "/nodes/pve1/qemu/100/config", "onboot", false),
        ("PUT", "/nodes/pve1/qemu/100/config", "net0", false),
        ("PUT", "/nodes/pve1/qemu/100/config", "scsihw", false),
        ("GET", "/nodes/pve1/tasks", "limit", true),
        ("GET", "/cluster/resources", "type", false),
        (
            "POST",
            "/nodes/pve1/lxc/200/status/start",
            "skiplock",
            false,
        ),
        ("PUT", "/nodes/pve1/qemu/100/resize", "size", false),
    ];
    for (method, path, key, integer) in targets {
        let extra: &[&str] = if integer { &bad_integers } else { &[] };
        for v in bad_everywhere.iter().chain(extra) {
            let a = api.call(method, path, &[(key, v)]).await;
            sent += 1;
            assert!(
                matches!(a.status, 400 | 500),
                "{method} {path} {key}={v:?}: {} {}",
                a.status,
                a.raw
            );
            assert!(
                a.message().ends_with('\n'),
                "{method} {path} {key}={v:?}: {}",
                a.raw
            );
            if a.status == 400 {
                assert!(a.body["errors"].is_object(), "{}", a.raw);
            }
        }
    }

    // broken bodies
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{not json".to_vec()),
        ("application/json", b"[1,2,3]".to_vec()),
        ("application/json", b"\"just a string\"".to_vec()),
        ("application/json", b"{\"vmid\": {\"nested\": 1}}".to_vec()),
        ("application/json", vec![0xff, 0xfe, 0x00]),
        ("application/x-www-form-urlencoded", vec![0xff, 0xfe, 0x00]),
        (
            "application/x-www-form-urlencoded",
            b"vmid=%zz&name=%".to_vec(),
        ),
        ("text/plain", b"vmid=100".to_vec()),
        ("multipart/form-data; boundary=x", b"--x--".to_vec()),
        ("application/x-www-form-urlencoded", vec![b'a'; 600 * 1024]),
    ];
    for (ctype, body) in &bodies {
        for path in ["/nodes/pve1/qemu", "/pools", "/nodes/pve1/qemu/100/config"] {
            for method in [reqwest::Method::POST, reqwest::Method::PUT] {
                let resp = client
                    .request(method.clone(), format!("{base}{path}"))
                    .header("Authorization", &api.auth)
                    .header("Content-Type", *ctype)
                    .body(body.clone())
                    .send()
                    .await
                    .expect("an answer, not a dropped connection");
                sent += 1;
                let status = resp.status().as_u16();
                assert!(
                    (400..=506).contains(&status),
                    "{method} {path} {ctype}: {status}"
                );
            }
        }
    }

    // bodies where none belong, unknown paths, odd methods, bad auth headers
    for path in ["/nodes", "/version", "/nodes/pve1/qemu/100"] {
        let resp = client
            .delete(format!("{base}{path}"))
            .header("Authorization", &api.auth)
            .body("x=1")
            .send()
            .await
            .expect("reply");
        sent += 1;
        assert_eq!(resp.status(), 501, "DELETE {path} with a body");
    }
    let paths = [
        "/",
        "//",
        "/nodes/%",
        "/nodes/%ff%fe",
        "/nodes/pve1/qemu/abc/config",
        "/nodes/pve1/qemu/-1/config",
        "/nodes/nosuchnode/qemu",
        "/nodes/pve1/qemu/100/config/extra",
        "/../../etc/passwd",
        "/nodes/pve1/tasks/%00/status",
        "/cluster/resources?type=",
        "/access/users/x/token/y",
        "/pools/nosuchpool",
        "/nodes/pve1/storage/nosuch/content",
    ];
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
            let resp = client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).expect("m"),
                    format!("{base}{path}"),
                )
                .header("Authorization", &api.auth)
                .send()
                .await
                .expect("reply");
            sent += 1;
            let status = resp.status().as_u16();
            assert!((400..=501).contains(&status), "{method} {path}: {status}");
        }
    }
    for header in [
        "PVEAPIToken",
        "PVEAPIToken=",
        "PVEAPIToken=root@pam!mpc",
        "PVEAPIToken=root@pam!mpc=",
        "Bearer x",
        "PVEAuthCookie=garbage",
        "PVEAPIToken=%zz=%zz",
    ] {
        let resp = client
            .get(format!("{base}/nodes"))
            .header("Authorization", header)
            .send()
            .await
            .expect("reply");
        sent += 1;
        assert_eq!(resp.status(), 401, "{header}");
    }
    // outside /api2/json
    for url in [
        format!("{}/", sim.url()),
        format!("{}/api2/extjs/nodes", sim.url()),
    ] {
        let resp = client
            .get(&url)
            .header("Authorization", &api.auth)
            .send()
            .await
            .expect("reply");
        sent += 1;
        assert_eq!(resp.status(), 501, "{url}");
    }

    // absurd sizes and counts are answered (or fail their task), never overflow
    for (method, path, params) in [
        (
            "PUT",
            "/nodes/pve1/qemu/110/resize",
            vec![("disk", "scsi0"), ("size", "+99999999999999T")],
        ),
        (
            "PUT",
            "/nodes/pve1/qemu/110/resize",
            vec![("disk", "scsi0"), ("size", "99999999999999999999")],
        ),
        (
            "POST",
            "/nodes/pve1/qemu",
            vec![("vmid", "4242"), ("scsi0", "local-lvm:99999999999999999")],
        ),
        (
            "PUT",
            "/nodes/pve1/qemu/110/config",
            vec![("memory", "99999999999999999999")],
        ),
        (
            "PUT",
            "/nodes/pve1/qemu/112/config",
            vec![("cores", "4096"), ("sockets", "4096")],
        ),
    ] {
        let a = api.call(method, path, &params).await;
        sent += 1;
        assert!(
            matches!(a.status, 200 | 400 | 500),
            "{method} {path}: {}",
            a.raw
        );
        if let Some(upid) = a.data().as_str() {
            api.wait_task(upid).await;
        }
    }
    for path in [
        "/cluster/resources",
        "/nodes",
        "/nodes/pve1/storage",
        "/nodes/pve1/qemu",
    ] {
        assert_eq!(
            api.get(path).await.status,
            200,
            "{path} after absurd values"
        );
    }
    sim.control()
        .set_guest_config(113, "memory", "18446744073709551615")
        .expect("guest");
    sim.control()
        .set_guest_config(113, "cores", "18446744073709551615")
        .expect("guest");
    assert_eq!(api.get("/cluster/resources").await.status, 200);

    assert!(sent >= 300, "only {sent} malformed requests");
    // still serving, and nothing changed guest 100's basic shape
    let v = api.get("/version").await;
    assert_eq!(v.status, 200);
    let cfg = api.get("/nodes/pve1/qemu/100/config").await;
    assert_eq!(cfg.data()["name"], "web-01");
}
