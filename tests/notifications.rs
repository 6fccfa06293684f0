//! Bitcoin Core's `Chain::handleNotifications` pattern across a boundary:
//! subscribe an object or a closure, get a handler whose drop unsubscribes.

use std::sync::{Arc, Mutex};

use interfaces::{Chain, Init, LocalInit, Notifications};

#[derive(Default)]
struct Recorder {
    blocks: Mutex<Vec<(u32, String)>>,
}

impl Notifications for Recorder {
    fn block_connected(&self, height: u32, hash: String) {
        self.blocks.lock().unwrap().push((height, hash));
    }
}

fn chain() -> Box<dyn Chain> {
    let init = multiprocess::pair::<dyn Init>(Box::new(LocalInit::default())).unwrap();
    init.make_chain()
}

#[test]
fn subscribers_are_notified_until_their_handler_is_dropped() {
    let chain = chain();
    let recorder = Arc::new(Recorder::default());
    let handler = chain.handle_notifications(recorder.clone());
    assert_eq!(Arc::strong_count(&recorder), 2, "the node holds the subscriber");
    assert_eq!(chain.connect_block(), 1);
    assert_eq!(chain.connect_block(), 2);
    drop(handler);
    assert_eq!(Arc::strong_count(&recorder), 1, "unsubscribed and released when the handler was dropped");
    assert_eq!(chain.connect_block(), 3);
    let blocks = recorder.blocks.lock().unwrap();
    assert_eq!(blocks.iter().map(|(height, _)| *height).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(blocks[0].1.len(), 64);
}

#[test]
fn a_closure_subscribes_too_and_disconnect_works_before_drop() {
    let chain = chain();
    let heights = Arc::new(Mutex::new(Vec::new()));
    let record = heights.clone();
    let handler = chain.handle_blocks(Box::new(move |height| record.lock().unwrap().push(height)));
    chain.connect_block();
    handler.disconnect();
    chain.connect_block();
    assert_eq!(*heights.lock().unwrap(), vec![1]);
    assert_eq!(Arc::strong_count(&heights), 1, "the closure was dropped on disconnect");
    drop(handler);
}
