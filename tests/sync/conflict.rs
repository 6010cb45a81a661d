//! Conflicts in `/sync`: with the last sync as the base, a field changed only on the server is
//! drift, only in the file a pending change, and on both sides to different values a conflict.
//! A conflicting hand edit is listed (guest, field, base, server, file) and never overwritten;
//! `--adopt` takes the server's value and says so. Changes on the server go through the PVE
//! API of the simulator.

use proxmox_mpc::commands::sync::{SyncRun, render};
use proxmox_mpc::iac::sync::{FieldChange, FieldDrift, GuestOutcome, SyncOptions};
use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{Client, params};
use proxmox_mpc::ui::Item;

use super::common::{Workspace, client, homelab};

const WEB: &str = "terraform/web_01.tf";

async fn set_on_server(client: &Client, node: &str, key: &str, value: &str) {
    let upid = client
        .update_config(
            node,
            GuestKind::Qemu,
            100,
            params([(key, value)]),
            &[],
            None,
        )
        .await
        .unwrap();
    if let Some(upid) = upid {
        client.wait(&upid).await.unwrap();
    }
}

fn web(run: &SyncRun) -> GuestOutcome {
    run.report
        .guests
        .iter()
        .find(|g| g.vmid == 100)
        .unwrap()
        .outcome
        .clone()
}

fn field<'a>(fields: &'a [FieldDrift], name: &str) -> &'a FieldDrift {
    fields
        .iter()
        .find(|f| f.field == name)
        .unwrap_or_else(|| panic!("no {name} in {fields:?}"))
}

fn said(run: &SyncRun) -> String {
    render(run)
        .into_iter()
        .filter_map(|i| match i {
            Item::Status(t) | Item::Warning(t) | Item::Hint(t) => Some(t),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn a_field_changed_on_both_sides_is_a_conflict_kept_until_adopt() {
    let sim = homelab().await;
    let client = client(&sim);
    let node = sim.control().guest_node(100).unwrap();
    let ws = Workspace::new().await;
    ws.sync(&client, SyncOptions::default()).await;

    set_on_server(&client, &node, "memory", "4096").await;
    let edited = ws.read(WEB).replace("dedicated = 2048", "dedicated = 3072");
    ws.write(WEB, &edited);
    let run = ws.sync(&client, SyncOptions::default()).await;
    let GuestOutcome::Conflict(fields) = web(&run) else {
        panic!("expected a conflict, got {:?}", web(&run));
    };
    let memory = field(&fields, "memory");
    assert_eq!(memory.change, FieldChange::Conflict);
    assert_eq!(
        (
            memory.base.as_deref(),
            memory.live.as_deref(),
            memory.file.as_deref()
        ),
        (Some("2048"), Some("4096"), Some("3072"))
    );
    assert_eq!(ws.read(WEB), edited, "the hand edit is kept");
    let text = said(&run);
    assert!(
        text.contains("web-01 (100) memory: last sync 2048, server 4096, file 3072"),
        "{text}"
    );
    assert!(text.contains("1 conflict"), "{text}");
    assert!(text.contains("/resolve"), "{text}");
    // The test spec follows the file, the desired state.
    assert!(ws.read("tests/web_01.yml").contains("3072"));

    // Another plain sync changes nothing: the conflict stays a conflict.
    let again = ws.sync(&client, SyncOptions::default()).await;
    assert!(matches!(web(&again), GuestOutcome::Conflict(_)));
    assert_eq!(ws.read(WEB), edited);

    let adopted = ws
        .sync(
            &client,
            SyncOptions {
                adopt: true,
                prune: false,
                agent_ips: false,
            },
        )
        .await;
    let GuestOutcome::Adopted(fields) = web(&adopted) else {
        panic!("expected adopted, got {:?}", web(&adopted));
    };
    assert_eq!(field(&fields, "memory").change, FieldChange::Conflict);
    assert!(
        ws.read(WEB).contains("dedicated = 4096"),
        "{}",
        ws.read(WEB)
    );
    let text = said(&adopted);
    assert!(
        text.contains("--adopt took the server's value for 1 conflicting field(s)"),
        "{text}"
    );
    assert!(text.contains("your edit 3072 was replaced"), "{text}");
    let after = ws.sync(&client, SyncOptions::default()).await;
    assert_eq!(web(&after), GuestOutcome::Unchanged);
}

#[tokio::test]
async fn each_difference_names_the_side_that_moved_since_the_last_sync() {
    let sim = homelab().await;
    let client = client(&sim);
    let node = sim.control().guest_node(100).unwrap();
    let ws = Workspace::new().await;
    ws.sync(&client, SyncOptions::default()).await;

    // The server moves memory; a sync reports drift and keeps the base of the last agreement.
    set_on_server(&client, &node, "memory", "4096").await;
    let run = ws.sync(&client, SyncOptions::default()).await;
    let GuestOutcome::Drift(fields) = web(&run) else {
        panic!("expected drift, got {:?}", web(&run));
    };
    assert_eq!(field(&fields, "memory").change, FieldChange::Drift);
    assert!(said(&run).contains("memory: file 2048 -> live 4096 (changed on the server)"));

    // The file moves cores (pending) and, later, memory too: memory is now a conflict, since
    // the base is still what both said at the first sync.
    let edited = ws.read(WEB).replace("cores   = 2", "cores   = 6");
    ws.write(WEB, &edited);
    let run = ws.sync(&client, SyncOptions::default()).await;
    let GuestOutcome::Drift(fields) = web(&run) else {
        panic!("expected drift, got {:?}", web(&run));
    };
    assert_eq!(field(&fields, "cores").change, FieldChange::Pending);
    assert_eq!(field(&fields, "memory").change, FieldChange::Drift);
    let edited = edited.replace("dedicated = 2048", "dedicated = 8192");
    ws.write(WEB, &edited);
    let run = ws.sync(&client, SyncOptions::default()).await;
    let GuestOutcome::Conflict(fields) = web(&run) else {
        panic!("expected a conflict, got {:?}", web(&run));
    };
    assert_eq!(field(&fields, "memory").base.as_deref(), Some("2048"));
    assert_eq!(field(&fields, "cores").change, FieldChange::Pending);

    // The server comes round to the file's memory: both sides agree again, and that becomes
    // the base; cores is still pending.
    set_on_server(&client, &node, "memory", "8192").await;
    let run = ws.sync(&client, SyncOptions::default()).await;
    let GuestOutcome::Drift(fields) = web(&run) else {
        panic!("expected drift, got {:?}", web(&run));
    };
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert_eq!(field(&fields, "cores").change, FieldChange::Pending);
    set_on_server(&client, &node, "memory", "1024").await;
    let run = ws.sync(&client, SyncOptions::default()).await;
    let GuestOutcome::Drift(fields) = web(&run) else {
        panic!("expected drift, got {:?}", web(&run));
    };
    let memory = field(&fields, "memory");
    assert_eq!(
        (memory.change, memory.base.as_deref()),
        (FieldChange::Drift, Some("8192"))
    );
}
