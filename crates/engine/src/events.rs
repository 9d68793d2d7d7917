//! The event bus: services publish, `/events` subscribers receive, and a
//! bounded history answers `since`. Events have Docker's shape.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Mutex;

/// Who an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Actor {
    /// Object id (image id, container id, ...).
    #[serde(rename = "ID")]
    pub id: String,
    /// Name, labels and other details.
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as `/events` streams it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Object type: `image`, `container`, `network`, `volume`, ...
    #[serde(rename = "Type")]
    pub typ: String,
    /// What happened: `pull`, `tag`, `untag`, `delete`, `load`, ...
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// `local` (berth has no swarm scope).
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// A new event stamped now.
    pub fn new(typ: &str, action: &str, id: &str, attributes: BTreeMap<String, String>) -> Self {
        let nanos = berth_base::time::now_nanos();
        Self {
            typ: typ.into(),
            action: action.into(),
            actor: Actor {
                id: id.into(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        }
    }
}

/// How many events the history keeps.
pub const HISTORY: usize = 1024;
/// How many events a subscriber may fall behind before it is dropped.
pub const BACKLOG: usize = 4096;

#[derive(Default)]
struct Inner {
    history: VecDeque<Event>,
    subscribers: Vec<SyncSender<Event>>,
}

/// The event bus.
#[derive(Default)]
pub struct Events {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// An empty bus.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `ev` and sends it to every subscriber. A subscriber that fell
    /// `BACKLOG` events behind is dropped (its receiver sees the end).
    pub fn publish(&self, ev: Event) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.subscribers.retain(|s| match s.try_send(ev.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("dropping a slow event subscriber");
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
        if inner.history.len() == HISTORY {
            inner.history.pop_front();
        }
        inner.history.push_back(ev);
    }

    /// Subscribes; returns the recorded events at or after `since_nanos`
    /// (none if `None`) and the receiver of every later event, with no gap
    /// and no duplicate between them.
    pub fn subscribe(&self, since_nanos: Option<i64>) -> (Vec<Event>, Receiver<Event>) {
        let (tx, rx) = sync_channel(BACKLOG);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let past = match since_nanos {
            Some(t) => inner
                .history
                .iter()
                .filter(|e| e.time_nano >= t)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        inner.subscribers.push(tx);
        (past, rx)
    }

    /// Recorded events in `[since, until]` (nanoseconds), for a request
    /// that only wants the past.
    pub fn history(&self, since_nanos: i64, until_nanos: i64) -> Vec<Event> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .history
            .iter()
            .filter(|e| e.time_nano >= since_nanos && e.time_nano <= until_nanos)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_get_history_then_live_events() {
        let bus = Events::new();
        bus.publish(Event::new("image", "tag", "sha256:a", BTreeMap::new()));
        let (past, rx) = bus.subscribe(Some(0));
        assert_eq!(past.len(), 1);
        bus.publish(Event::new("image", "untag", "sha256:a", BTreeMap::new()));
        assert_eq!(rx.recv().unwrap().action, "untag");
        drop(rx);
        bus.publish(Event::new("image", "delete", "sha256:a", BTreeMap::new()));
        assert_eq!(bus.history(0, i64::MAX).len(), 3);
        let json = serde_json::to_value(&past[0]).unwrap();
        assert_eq!(json["Actor"]["ID"], "sha256:a");
        assert!(json["timeNano"].as_i64().unwrap() > 0);
    }

    #[test]
    fn history_is_bounded() {
        let bus = Events::new();
        for _ in 0..HISTORY + 10 {
            bus.publish(Event::new("image", "tag", "x", BTreeMap::new()));
        }
        assert_eq!(bus.history(0, i64::MAX).len(), HISTORY);
    }
}
