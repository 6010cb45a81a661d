//! Tasks followed to OK and to failure, with progress, timeout and cancellation.

use std::time::Duration;

use proxmox_mpc::model::GuestKind;
use proxmox_mpc::pve::{PveError, TaskProgress};
use proxmox_mpc::sim::Faults;

use crate::support::sim::{client, homelab};

#[tokio::test]
async fn start_task_is_followed_to_ok_with_log_lines() {
    let sim = homelab().await;
    let mut faults = Faults::none();
    faults.task_duration = Duration::from_millis(300);
    sim.control().set_faults(faults);
    let client = client(&sim);
    let upid = client.start("pve3", GuestKind::Qemu, 103).await.unwrap();
    assert_eq!(upid.node, "pve3");
    assert_eq!(upid.task_type, "qmstart");
    assert_eq!(upid.vmid(), Some(103));
    let mut lines = Vec::new();
    let mut running_reports = 0;
    let outcome = client
        .wait_task(
            &upid,
            Duration::from_secs(30),
            |p| match p {
                TaskProgress::Log(line) => lines.push(line.to_string()),
                TaskProgress::Running(_) => running_reports += 1,
            },
            std::future::pending(),
        )
        .await
        .expect("task ends OK");
    assert_eq!(outcome.exitstatus, "OK");
    assert_eq!(outcome.warnings, 0);
    assert!(
        running_reports > 0,
        "the task should have been seen running"
    );
    assert_eq!(lines, outcome.log);
    assert_eq!(lines.last().map(String::as_str), Some("TASK OK"));
    assert_eq!(sim.control().guest_running(103), Some(true));
}

#[tokio::test]
async fn failing_task_is_task_failed_with_exit_status_and_log_tail() {
    let sim = homelab().await;
    let mut faults = Faults::none();
    faults.task_failure_rate = 1.0;
    sim.control().set_faults(faults);
    let client = client(&sim);
    let upid = client.start("pve3", GuestKind::Qemu, 103).await.unwrap();
    let err = client.wait(&upid).await.unwrap_err();
    match &err {
        PveError::TaskFailed {
            upid: failed,
            exitstatus,
            log_tail,
            ..
        } => {
            assert_eq!(failed, upid.as_str());
            assert_ne!(exitstatus, "OK");
            assert!(
                log_tail.last().is_some_and(|l| l.starts_with("TASK ERROR")),
                "{log_tail:?}"
            );
        }
        other => panic!("expected task failure, got {other}"),
    }
    assert!(err.to_string().contains(upid.as_str()));
}

#[tokio::test]
async fn waiting_times_out_and_can_be_cancelled() {
    let sim = homelab().await;
    let mut faults = Faults::none();
    faults.task_duration = Duration::from_secs(30);
    sim.control().set_faults(faults);
    let client = client(&sim);
    let upid = client.start("pve3", GuestKind::Qemu, 103).await.unwrap();
    let err = client
        .wait_task(
            &upid,
            Duration::from_millis(300),
            |_| {},
            std::future::pending(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PveError::Timeout { .. }), "{err}");
    let err = client
        .wait_task(
            &upid,
            Duration::from_secs(60),
            |_| {},
            tokio::time::sleep(Duration::from_millis(200)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, PveError::Cancelled { .. }), "{err}");
}
