//! Counted places for long-lived things (connections, WebSockets): at most `max` together and
//! `max_per_key` for one client address. A place is a guard; dropping it frees the place, so a
//! connection that ends in any way (closed, reset, panicked handler) gives its place back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Why no place was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// Every place is taken.
    All(usize),
    /// This address holds all it may.
    Address(usize),
}

impl Full {
    /// The reason, for an error message.
    pub fn describe(&self, what: &str) -> String {
        match self {
            Full::All(n) => format!("the server holds its maximum of {n} open {what}"),
            Full::Address(n) => format!("this address holds its maximum of {n} open {what}"),
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_key: HashMap<String, usize>,
}

/// See the module's doc.
#[derive(Debug)]
pub struct Slots {
    max: usize,
    max_per_key: usize,
    counts: Mutex<Counts>,
}

/// A place held; freed when dropped.
#[derive(Debug)]
pub struct Slot {
    slots: Arc<Slots>,
    key: Option<String>,
}

impl Slots {
    pub fn new(max: usize, max_per_key: usize) -> Arc<Self> {
        Arc::new(Self {
            max,
            max_per_key,
            counts: Mutex::new(Counts::default()),
        })
    }

    /// A place for `key` (`None`: a client the per-key limit does not apply to).
    pub fn take(self: &Arc<Self>, key: Option<String>) -> Result<Slot, Full> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if c.total >= self.max {
            return Err(Full::All(self.max));
        }
        if let Some(k) = &key {
            let n = c.by_key.entry(k.clone()).or_insert(0);
            if *n >= self.max_per_key {
                return Err(Full::Address(self.max_per_key));
            }
            *n += 1;
        }
        c.total += 1;
        Ok(Slot {
            slots: Arc::clone(self),
            key,
        })
    }

    /// Places taken now.
    pub fn in_use(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self
            .slots
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        c.total = c.total.saturating_sub(1);
        if let Some(k) = &self.key
            && let Some(n) = c.by_key.get_mut(k)
        {
            *n -= 1;
            if *n == 0 {
                // The map holds only addresses with something open: its size is bounded by
                // `max`, whatever number of addresses came and went.
                c.by_key.remove(k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_counted_per_key_and_together_and_given_back() {
        let slots = Slots::new(3, 2);
        let a1 = slots.take(Some("a".into())).expect("a1");
        let _a2 = slots.take(Some("a".into())).expect("a2");
        assert_eq!(slots.take(Some("a".into())).unwrap_err(), Full::Address(2));
        let _b = slots.take(Some("b".into())).expect("b");
        assert_eq!(slots.take(None).unwrap_err(), Full::All(3));
        drop(a1);
        assert_eq!(slots.in_use(), 2);
        let _proxy = slots.take(None).expect("a place again");
        assert_eq!(slots.take(Some("c".into())).unwrap_err(), Full::All(3));
        drop(_proxy);
        drop(_b);
        let counts = slots.counts.lock().expect("lock");
        assert_eq!(counts.by_key.len(), 1, "freed keys leave the map");
    }
}
