//! The clock that times events: the real one, unless a test sets it (to run two nodes in one
//! process and move their time).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, as events are timed. Cheap to clone; clones share the
/// time set.
#[derive(Clone, Debug)]
pub struct Clock(Arc<AtomicI64>);

/// Stored while the clock is real.
const REAL: i64 = i64::MIN;

impl Default for Clock {
    fn default() -> Clock {
        Clock::real()
    }
}

impl Clock {
    /// The real clock.
    pub fn real() -> Clock {
        Clock(Arc::new(AtomicI64::new(REAL)))
    }

    pub fn now_ms(&self) -> i64 {
        match self.0.load(Ordering::Relaxed) {
            REAL => crate::store::now_ms(),
            set => set,
        }
    }

    /// Stops the clock at `ms` (tests).
    pub fn set(&self, ms: i64) {
        self.0.store(ms.max(REAL + 1), Ordering::Relaxed);
    }

    /// Moves a set clock on by `ms` (tests); a real clock is set to now plus `ms`.
    pub fn advance(&self, ms: i64) {
        self.set(self.now_ms() + ms);
    }
}
