//! `/resolve` without `--take` at a real terminal (tmux): both values of the conflicting field
//! are shown, the person types the side, and the file takes it; an answer that is neither side
//! changes nothing.

use crate::common::{TOKEN_VAR, TestSim, piped, workspace};
use crate::pty::Tmux;

const WEB: &str = "terraform/web_01.tf";

#[test]
fn resolve_without_a_side_shows_both_values_and_takes_the_answer() {
    let sim = TestSim::homelab();
    let dir = workspace(&sim);
    let synced = piped(&sim, dir.path(), &["/sync"]);
    assert!(synced.status.success(), "{synced:?}");
    // Memory changed on both sides since that sync, to different values: a conflict.
    sim.control()
        .set_guest_config(100, "memory", "4096")
        .expect("the server takes the change");
    let path = dir.path().join(WEB);
    let edited = std::fs::read_to_string(&path)
        .unwrap()
        .replace("dedicated = 2048", "dedicated = 3072");
    assert!(edited.contains("dedicated = 3072"), "{edited}");
    std::fs::write(&path, &edited).unwrap();

    let env = [(TOKEN_VAR, sim.full_token())];
    let tmux = Tmux::start(dir.path(), &env);
    tmux.wait_for("> ");
    tmux.type_line("/resolve web-01");
    let screen = tmux.wait_for("Which side wins for web-01 (vmid 100)? server or code");
    assert!(
        screen.contains("memory: file 3072 / server 4096"),
        "both values are shown:\n{screen}"
    );
    // Neither side: nothing changes.
    tmux.type_line("both");
    tmux.wait_for("is neither server nor code; nothing was changed");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited);

    tmux.type_line("/resolve web-01");
    tmux.wait_for_n("Which side wins for web-01 (vmid 100)? server or code", 2);
    tmux.type_line("server");
    tmux.wait_for("file takes 4096");
    tmux.type_line("/exit");
    tmux.wait_gone();
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(
        file.contains("dedicated = 4096"),
        "the file takes the server's value:\n{file}"
    );
}
