//! Spawning and dropping children leaves nothing behind: descriptors,
//! threads and unreaped children return to where they started. In a binary of
//! its own, so no other test's processes or threads muddy the counts.

// Counts descriptors, threads and zombies in /proc.
#![cfg(target_os = "linux")]

mod common;

use common::{Lab, child_command, eventually};

child_entry!();

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

/// Children of this process that have exited but were not waited for.
fn zombies() -> usize {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| std::fs::read_to_string(entry.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            let fields: Vec<&str> = stat.rsplit(") ").next().unwrap_or("").split(' ').collect();
            fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str())
        })
        .count()
}

#[test]
fn a_hundred_spawn_and_drop_cycles_leave_nothing_behind() {
    // One cycle first, so that lazily created process-wide state is not counted.
    drop(multiprocess::spawn_process::<dyn Lab>(child_command()).unwrap());
    let (fds, threads_before) = (open_fds(), threads());
    for cycle in 0..100 {
        let spawned = multiprocess::spawn_process::<dyn Lab>(child_command()).unwrap();
        assert!(spawned.remote().pid() > 0);
        if cycle % 2 == 0 {
            // Half of them also make objects and a second calling thread.
            let counter = spawned.remote().make_counter(cycle);
            std::thread::scope(|scope| {
                scope.spawn(|| counter.add(1));
            });
        }
        drop(spawned);
    }
    eventually("threads to end", || threads() == threads_before);
    assert_eq!(open_fds(), fds, "descriptors");
    assert_eq!(zombies(), 0, "unreaped children");
}
