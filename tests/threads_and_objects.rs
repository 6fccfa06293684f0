//! Objects, callbacks and the 1:1 thread model, each test run over `pair()`
//! and across a child process from one body.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use common::{BOUND, Counter, Lab, LocalCounter, eventually, every_mode, here};

child_entry!();

#[test]
fn a_callback_runs_on_the_thread_that_made_the_outer_call() {
    every_mode(|_, remote| {
        let caller = thread::current().id();
        let seen = Arc::new(Mutex::new(None));
        let record = seen.clone();
        let answer = remote.lab().call_back(Box::new(move || {
            *record.lock().unwrap() = Some(thread::current().id());
            "from the callback".to_string()
        }));
        assert_eq!(answer, "from the callback");
        assert_eq!(*seen.lock().unwrap(), Some(caller));
    });
}

#[test]
fn recursion_eight_levels_deep_alternates_sides_on_the_same_threads() {
    every_mode(|mode, remote| {
        let lab: Arc<Box<dyn Lab>> = Arc::new(remote.into_lab());
        /// Client side of one level: record where it runs, then go back to the server.
        fn client_level(lab: &Arc<Box<dyn Lab>>, depth: u32) -> Vec<String> {
            let mut trace = vec![format!("client {depth} {}", here())];
            if depth > 0 {
                let again = lab.clone();
                trace.extend(lab.nest(depth - 1, Arc::new(move |depth| client_level(&again, depth))));
            }
            trace
        }
        let trace = client_level(&lab, 8);
        assert_eq!(trace.len(), 9, "{trace:#?}");
        let client_threads: std::collections::BTreeSet<&str> =
            trace.iter().filter(|l| l.starts_with("client")).map(|l| l.splitn(3, ' ').nth(2).unwrap()).collect();
        let server_threads: std::collections::BTreeSet<&str> =
            trace.iter().filter(|l| l.starts_with("server")).map(|l| l.splitn(3, ' ').nth(2).unwrap()).collect();
        for (i, line) in trace.iter().enumerate() {
            let side = if i % 2 == 0 { "client" } else { "server" };
            assert!(line.starts_with(&format!("{side} {}", 8 - i)), "level {i} is {line}");
        }
        assert_eq!(client_threads.len(), 1, "the client's levels all ran on the calling thread: {client_threads:?}");
        assert_eq!(server_threads.len(), 1, "the server's levels all ran on one partner thread: {server_threads:?}");
        assert!(client_threads.first().unwrap().contains(&format!("{:?}", thread::current().id())));
        let server = server_threads.first().unwrap();
        assert!(
            server.ends_with(&format!("ipc:{}", thread::current().name().unwrap())),
            "partner named after the caller: {server}"
        );
        if mode.in_child() {
            assert!(!server.starts_with(&format!("{}/", std::process::id())), "ran in the child: {server}");
        }
    });
}

#[test]
fn a_partner_thread_keeps_its_thread_locals_and_each_caller_has_its_own() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        lab.set_local(41);
        assert_eq!(lab.get_local(), 41, "call 2 sees what call 1 set");
        let first = lab.here();
        assert_eq!(lab.here(), first, "every call from one thread runs on one partner");
        thread::scope(|scope| {
            scope.spawn(|| {
                assert_eq!(lab.get_local(), 0, "another caller, another partner thread");
                lab.set_local(7);
                assert_ne!(lab.here(), first);
            });
        });
        assert_eq!(lab.get_local(), 41);
    });
}

#[test]
fn a_blocked_caller_does_not_delay_another() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let order = Mutex::new(Vec::new());
        thread::scope(|scope| {
            let blocked = scope.spawn(|| {
                let released = lab.wait_for_release();
                order.lock().unwrap().push("A returned");
                released
            });
            eventually("A to block in the server", || lab.waiting() == 1);
            // A holds its partner thread; B's calls go through regardless.
            assert_eq!(lab.pid(), lab.pid());
            order.lock().unwrap().push("B completed");
            lab.release();
            assert_eq!(blocked.join().unwrap(), 1, "A was released, not timed out");
        });
        assert_eq!(*order.lock().unwrap(), ["B completed", "A returned"]);
    });
}

#[test]
fn a_saved_callback_holds_a_reference_until_the_peer_drops_it() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let callback: Arc<dyn Fn(u32) -> u32 + Send + Sync> = Arc::new(|x| x * 2);
        assert_eq!(Arc::strong_count(&callback), 1);
        lab.keep(callback.clone());
        assert_eq!(Arc::strong_count(&callback), 2, "the owner's table holds it for the peer");
        assert_eq!(lab.fire(21), Some(42));
        lab.forget();
        assert_eq!(Arc::strong_count(&callback), 1, "released synchronously");
        assert_eq!(lab.fire(1), None);
    });
}

#[test]
fn dropping_a_returned_object_runs_its_drop_before_the_proxy_drop_returns() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let counter = lab.make_counter(5);
        assert_eq!(counter.id(), 5);
        assert_eq!(counter.add(3), 3);
        assert_eq!(counter.add(4), 7);
        assert!(lab.counters_dropped().is_empty());
        drop(counter);
        assert_eq!(lab.counters_dropped(), vec![5]);
    });
}

#[test]
fn objects_cross_in_options_and_vectors_and_come_home_as_themselves() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let counters = lab.counters(vec![1, 2, 3]);
        assert_eq!(counters.iter().map(|c| c.id()).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(lab.maybe_counter(None).is_none());
        assert_eq!(lab.maybe_counter(Some(9)).unwrap().id(), 9);

        let local: Vec<Box<dyn Counter>> = vec![Box::new(LocalCounter::new(1)), Box::new(LocalCounter::new(2))];
        local[0].add(10);
        local[1].add(20);
        let shared: Arc<dyn Counter> = Arc::new(LocalCounter::new(3));
        shared.add(5);
        assert_eq!(lab.total(local, Some(shared.clone())), 35);

        let mine: Box<dyn Counter> = Box::new(LocalCounter::new(77));
        mine.add(1);
        let back = lab.give_back(mine);
        assert!(multiprocess::connection_of(&*back).is_none(), "the original object, not a proxy of a proxy");
        assert_eq!((back.id(), back.add(1)), (77, 2));
        let back = lab.give_back_shared(shared.clone());
        assert!(Arc::ptr_eq(&back, &shared), "the very same Arc");

        // Their proxies, handed back to them, arrive as their own objects too.
        let theirs = lab.make_counter(8);
        theirs.add(2);
        let again = lab.give_back(theirs);
        assert_eq!(again.add(0), 2);
        assert_eq!(multiprocess::connection_of(&*again).map(|c| c.id()), Some(remote.connection().id()));
    });
}

#[test]
fn fn_mut_and_fn_once_callbacks() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let mut calls = 0;
        lab.call_mut(
            4,
            Box::new(move |i| {
                calls += 1;
                record.lock().unwrap().push((i, calls));
            }),
        );
        assert_eq!(*seen.lock().unwrap(), vec![(0, 1), (1, 2), (2, 3), (3, 4)]);
        let owned = String::from("moved in");
        assert_eq!(lab.call_once(Box::new(move |word| format!("{owned}, called {word}"))), "moved in, called once");
    });
}

#[test]
fn stats_count_objects_proxies_and_partner_threads() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let connection = remote.connection();
        assert_eq!(connection.stats().proxies, 1);
        let (exported, _, partners) = lab.stats();
        assert_eq!((exported, partners), (1, 1), "the bootstrap object, and our partner");
        let counter = lab.make_counter(1);
        assert_eq!(connection.stats().proxies, 2);
        assert_eq!(lab.stats().0, 2);
        lab.keep(Arc::new(|x| x));
        assert_eq!(connection.stats().exported_objects, 1);
        lab.forget();
        assert_eq!(connection.stats().exported_objects, 0);
        drop(counter);
        assert_eq!(connection.stats().proxies, 1);
        assert_eq!(lab.stats().0, 1);
    });
}

#[test]
fn a_thousand_short_lived_threads_leave_no_partner_threads_behind() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let before = lab.stats().2;
        for batch in 0..10 {
            thread::scope(|scope| {
                for _ in 0..100 {
                    scope.spawn(|| assert!(lab.pid() > 0));
                }
            });
            let _ = batch;
        }
        eventually("partner threads to end", || lab.stats().2 == before);
    });
}

#[test]
fn closing_drops_every_exported_object_newest_first_off_the_reader_thread() {
    every_mode(|_, remote| {
        let drops = Arc::new(Mutex::new(Vec::new()));
        for id in 1..=3 {
            remote.lab().keep_counter(Box::new(LocalCounter::recording(id, &drops)));
        }
        let connection = remote.connection();
        assert_eq!(connection.stats().exported_objects, 3);
        let _ = remote.lab().hang_up();
        assert!(connection.wait_closed(BOUND).is_some(), "the peer closed");
        eventually("the orphans to be dropped", || drops.lock().unwrap().len() == 3);
        let drops = drops.lock().unwrap();
        assert_eq!(drops.iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![3, 2, 1]);
        for (_, thread) in drops.iter() {
            assert!(!thread.contains("ipc-control"), "dropped on a reader thread: {thread}");
        }
        assert_eq!(connection.stats().exported_objects, 0);
    });
}

#[test]
fn closing_locally_drops_exports_and_kills_proxies() {
    every_mode(|_, remote| {
        let drops = Arc::new(Mutex::new(Vec::new()));
        remote.lab().keep_counter(Box::new(LocalCounter::recording(1, &drops)));
        remote.lab().keep_counter(Box::new(LocalCounter::recording(2, &drops)));
        let counter = remote.lab().make_counter(3);
        remote.connection().close();
        assert_eq!(drops.lock().unwrap().iter().map(|(id, _)| *id).collect::<Vec<_>>(), vec![2, 1]);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| counter.add(1)));
        let message = caught.expect_err("a dead proxy").downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("Counter.add") && message.contains("closed"), "{message}");
        assert_eq!(remote.lab().panic_now("x".into()), Err(common::LabError::Disconnected));
        drop(counter);
    });
}

#[test]
fn a_proxy_dropped_after_the_peer_is_gone_neither_panics_nor_hangs() {
    every_mode(|_, remote| {
        let counter = remote.lab().make_counter(1);
        let connection = remote.connection();
        let _ = remote.lab().hang_up();
        assert!(connection.wait_closed(BOUND).is_some());
        let (done, finished) = std::sync::mpsc::channel();
        thread::spawn(move || {
            drop(counter);
            drop(remote);
            let _ = done.send(());
        });
        finished.recv_timeout(BOUND).expect("dropping returned");
    });
}

#[test]
fn calls_from_the_serving_side_reach_back_through_saved_callbacks_on_other_threads() {
    every_mode(|_, remote| {
        let lab = remote.lab();
        let caller = thread::current().id();
        let ran_on = Arc::new(Mutex::new(Vec::new()));
        let record = ran_on.clone();
        lab.keep(Arc::new(move |x| {
            record.lock().unwrap().push(thread::current().id());
            x + 1
        }));
        let fired = AtomicU32::new(0);
        thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| fired.fetch_add(lab.fire(1).unwrap(), Ordering::SeqCst));
            }
        });
        assert_eq!(fired.load(Ordering::SeqCst), 8);
        assert_eq!(lab.fire(1), Some(2));
        assert_eq!(*ran_on.lock().unwrap().last().unwrap(), caller, "runs on the thread that called fire");
        lab.forget();
    });
}

#[test]
fn the_core_value_semantics_hold_in_every_mode() {
    use interfaces::{CalcError, Point};
    every_mode(|_, remote| {
        let calculator = remote.lab().calculator();
        assert_eq!(calculator.add(40, 2), 42);
        assert_eq!(calculator.shout("quiet"), "QUIET");
        assert_eq!(calculator.sum(&[1, 2, 3]), 6);
        assert_eq!(calculator.norm(&Point { x: -3, y: 4 }), 7);
        assert_eq!(calculator.reverse_bytes((0..=255).collect()), (0..=255).rev().collect::<Vec<u8>>());
        let mut values = vec![1];
        assert_eq!(calculator.push_twice(&mut values, 9), 3);
        assert_eq!(values, vec![1, 9, 9], "written back");
        assert_eq!(calculator.divide(7, 0), Err(CalcError::DivideByZero));

        let Err(CalcError::Ipc(message)) = calculator.try_fail("boom".into()) else { panic!("no error") };
        assert!(message.contains("panicked") && message.contains("boom"), "{message}");
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| calculator.fail("kaboom".into())));
        let message = caught.expect_err("panics").downcast_ref::<String>().cloned().unwrap_or_default();
        assert!(message.contains("Calculator.fail") && message.contains("kaboom"), "{message}");
        assert_eq!(calculator.add(1, 1), 2, "still serving after a panic");

        thread::scope(|scope| {
            for thread in 0..8i64 {
                let calculator = &calculator;
                scope.spawn(move || {
                    for call in 0..1000i64 {
                        assert_eq!(calculator.add(thread << 32, call), (thread << 32) + call);
                    }
                });
            }
        });
    });
}

#[test]
fn a_borrowed_object_is_lent_for_the_call_and_runs_on_the_calling_thread() {
    /// Records the thread of every call it serves.
    struct Watched {
        inner: LocalCounter,
        threads: Mutex<Vec<thread::ThreadId>>,
    }
    impl Counter for Watched {
        fn id(&self) -> u64 {
            self.inner.id()
        }
        fn add(&self, amount: u64) -> u64 {
            self.threads.lock().unwrap().push(thread::current().id());
            self.inner.add(amount)
        }
    }
    every_mode(|_, remote| {
        let lab = remote.lab();
        let watched = Watched { inner: LocalCounter::new(12), threads: Mutex::new(Vec::new()) };
        assert_eq!(lab.visit(&watched, 3), (12, 3));
        assert_eq!(lab.visit(&watched, 2), (12, 5), "the same object, lent again");
        let threads = watched.threads.lock().unwrap();
        assert_eq!(threads.len(), 5);
        assert!(threads.iter().all(|t| *t == thread::current().id()));
        let connection = remote.connection();
        assert_eq!(connection.stats().exported_objects, 0, "a lent object is never in the table");
        assert_eq!(lab.stats().1, 0, "the callee holds no proxy of it after the call");
    });
}
