//! `/tour`: a guided walk through the loop the console is for — sync, a resource command,
//! plan, apply, test, a drift made on purpose and its repair — on the demo's simulated
//! cluster. Owns the steps, their two-line explanations and the drift it makes on the
//! simulator; the [`crate::console::Session`] runs each step's line as if it were typed, so the
//! tour leaves the same workspace (files, commits, state.db) as a person typing them would.
//!
//! It runs only in `proxmox-mpc demo`: the drift step changes a guest behind the console's back,
//! which the demo does on its in-process simulator and which must never happen to a real
//! cluster by way of a tutorial.

use crate::sim::SimControl;
use crate::ui::Item;

/// The guest the tour creates, and the seed's guest it changes instead when that one was
/// skipped.
const TOUR_GUEST: &str = "tour-01";
const FALLBACK_GUEST: &str = "web-01";

/// One step: what it shows, why, and the console line it runs.
struct Step {
    line: &'static str,
    why: [&'static str; 2],
    /// Changes a guest's memory on the simulator before the line runs.
    drift: bool,
}

const STEPS: &[Step] = &[
    Step {
        line: "/sync",
        why: [
            "Reads every guest of the (simulated) cluster and writes the workspace: one Terraform file per guest in terraform/,",
            "the Ansible inventory, tests and docs. Run again, it rewrites only what changed; every change is a git commit.",
        ],
        drift: false,
    },
    Step {
        line: "create vm --name tour-01 --memory 1G",
        why: [
            "A resource command edits the files, not the cluster: this writes terraform/tour_01.tf for a new VM.",
            "No node is given, so the console places it where memory and storage room are free.",
        ],
        drift: false,
    },
    Step {
        line: "/plan",
        why: [
            "Compares the files with the cluster and saves what /apply would do: here, create tour-01.",
            "Nothing on the server changes yet; the * in the prompt says a plan is waiting.",
        ],
        drift: false,
    },
    Step {
        line: "/apply --yes",
        why: [
            "Carries out the saved plan on the cluster and writes the server's choices (the new VM's id) back into its file.",
            "--yes answers the question /apply otherwise asks before it changes anything.",
        ],
        drift: false,
    },
    Step {
        line: "/test",
        why: [
            "Checks the live cluster against the specs /sync wrote in tests/, and the workspace itself",
            "(the files parse, the provider is pinned, no secret is in a file): one line per guest.",
        ],
        drift: false,
    },
    Step {
        line: "/sync",
        why: [
            "Now someone doubles a guest's memory behind the console's back, as in the Proxmox GUI (the tour does it on the simulator).",
            "/sync notices that the server moved and the file did not: it reports the drift and leaves the file alone.",
        ],
        drift: true,
    },
    Step {
        line: "/sync --adopt",
        why: [
            "Takes the server's values into the file (the memory, and what the server filled in when it created the VM) and commits it.",
            "The other way round, /plan and /apply would set the server back to what the file says.",
        ],
        drift: false,
    },
    Step {
        line: "/plan",
        why: [
            "Files and cluster agree again, so /plan finds nothing to do.",
            "That is the loop: change the files or the cluster, /plan, /apply, /sync.",
        ],
        drift: false,
    },
];

/// What the session does with a line typed during the tour.
#[derive(Debug)]
pub enum Answer {
    /// Run `line` as if typed, showing `before` first; then call [`Tour::advance`].
    Run {
        line: &'static str,
        before: Vec<Item>,
    },
    /// Show these items; `finished` ends the tour.
    Say { items: Vec<Item>, finished: bool },
    /// Not a tour word: the line is an ordinary console line.
    Pass,
}

/// A tour in progress: the step the next Enter runs.
#[derive(Debug)]
pub struct Tour {
    next: usize,
}

impl Tour {
    /// Starts the tour and returns its opening items (what it is, the first step).
    pub fn start() -> (Self, Vec<Item>) {
        let tour = Self { next: 0 };
        let mut items = vec![Item::Text(format!(
            "A tour in {} steps on the simulated cluster. Each step says what it does, then runs when you press Enter.\n\
             Type skip to skip a step, q to leave the tour; any other line runs as usual.",
            STEPS.len()
        ))];
        items.extend(tour.intro());
        (tour, items)
    }

    /// The prompt's note: which step the next Enter runs.
    pub fn prompt_note(&self) -> String {
        format!(" tour {}/{}", self.next + 1, STEPS.len())
    }

    /// Answers a line typed while the tour is on: Enter runs the step, `skip` skips it, `q`
    /// leaves; anything else passes to the console.
    pub fn answer(&mut self, line: &str, sim: &SimControl) -> Answer {
        match line.to_ascii_lowercase().as_str() {
            "" => {
                let step = &STEPS[self.next];
                // The drift happens first, as it would before a person ran the line.
                let mut before = Vec::new();
                if step.drift {
                    before.push(make_drift(sim));
                }
                before.push(Item::Status(format!("» {}", step.line)));
                Answer::Run {
                    line: step.line,
                    before,
                }
            }
            "skip" | "s" => {
                let mut items = vec![Item::Status(format!(
                    "Skipped step {}: {}",
                    self.next + 1,
                    STEPS[self.next].line
                ))];
                let (more, finished) = self.advance();
                items.extend(more);
                Answer::Say { items, finished }
            }
            "q" | "quit" | "exit" => Answer::Say {
                items: vec![Item::Status(
                    "Left the tour; the workspace is as the steps so far made it. /tour starts again from the first step."
                        .into(),
                )],
                finished: true,
            },
            _ => Answer::Pass,
        }
    }

    /// Moves past the current step: returns the next step's introduction, or the closing words
    /// and `true` when that was the last.
    pub fn advance(&mut self) -> (Vec<Item>, bool) {
        self.next += 1;
        if self.next < STEPS.len() {
            return (self.intro(), false);
        }
        (
            vec![Item::Status(
                "Tour finished. The workspace is a normal one: try `list vms`, `show vm tour-01`, /history or /help."
                    .into(),
            )],
            true,
        )
    }

    fn intro(&self) -> Vec<Item> {
        let step = &STEPS[self.next];
        vec![Item::Text(format!(
            "\nStep {}/{}: {}\n  {}\n  {}\nPress Enter to run it (skip: next step, q: leave the tour).",
            self.next + 1,
            STEPS.len(),
            step.line,
            step.why[0],
            step.why[1]
        ))]
    }
}

/// Doubles the memory of tour-01 (web-01 when tour-01 was not created) on the simulator, as
/// an out-of-band change; says what it did, or why it could not.
fn make_drift(sim: &SimControl) -> Item {
    let named = |name: &str| {
        sim.guest_ids().into_iter().find(|id| {
            sim.guest_config(*id)
                .is_some_and(|c| c.get("name").is_some_and(|n| n == name))
        })
    };
    let Some((name, vmid)) = [TOUR_GUEST, FALLBACK_GUEST]
        .into_iter()
        .find_map(|name| named(name).map(|id| (name, id)))
    else {
        return Item::Warning(format!(
            "neither {TOUR_GUEST} nor {FALLBACK_GUEST} is on the simulated cluster; no drift was made"
        ));
    };
    let memory: u64 = sim
        .guest_config(vmid)
        .and_then(|c| c.get("memory").and_then(|m| m.parse().ok()))
        .unwrap_or(512);
    let doubled = memory * 2;
    match sim.set_guest_config(vmid, "memory", &doubled.to_string()) {
        Ok(()) => Item::Status(format!(
            "Changed {name}'s memory on the simulated server from {memory} to {doubled} MiB, as if someone used the Proxmox GUI."
        )),
        Err(e) => Item::Warning(format!("could not change {name} on the simulator: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_is_explained_in_two_lines_and_runs_a_console_line() {
        for step in STEPS {
            assert!(
                step.why.iter().all(|l| !l.is_empty() && !l.contains('\n')),
                "{}",
                step.line
            );
            assert!(!step.line.is_empty());
        }
        assert_eq!(STEPS.iter().filter(|s| s.drift).count(), 1);
    }

    #[test]
    fn skipping_every_step_ends_the_tour() {
        let (mut tour, _) = Tour::start();
        for _ in 1..STEPS.len() {
            assert!(!tour.advance().1);
        }
        assert!(tour.advance().1);
    }
}
