//! Cooperative interruption of long work (training, scene inference).
//!
//! The library never installs signal handlers by itself: the CLI or an example calls
//! [`Interrupt::on_ctrl_c`] once, and passes the handle to the training loop, which checks it
//! between batches, finishes the batch in flight, writes a consistent checkpoint and returns
//! [`TrainOutcome::Interrupted`](crate::TrainOutcome::Interrupted). Tests trigger the same
//! path with [`Interrupt::trigger`] (e.g. from a step callback).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A shared "please stop" flag.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    flag: Arc<AtomicBool>,
    presses: Arc<AtomicUsize>,
}

impl Interrupt {
    /// A flag that nothing has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A flag raised by Ctrl-C (SIGINT). The first press asks the work
    /// to stop cleanly; a second press exits the process immediately with status 130 (files
    /// are still never half-written: every output is renamed into place when complete).
    ///
    /// Only one handler can exist per process; calling this twice returns a flag that the
    /// handler does not raise.
    pub fn on_ctrl_c() -> Self {
        let me = Self::new();
        let handle = me.clone();
        let installed = ctrlc::set_handler(move || {
            let n = handle.presses.fetch_add(1, Ordering::SeqCst);
            handle.flag.store(true, Ordering::SeqCst);
            if n == 0 {
                eprintln!(
                    "\ninterrupt: finishing the current step and saving a checkpoint (press \
                     Ctrl-C again to quit now)"
                );
            } else {
                std::process::exit(130);
            }
        });
        if let Err(e) = installed {
            eprintln!("warning: cannot install the Ctrl-C handler: {e}");
        }
        me
    }

    /// Raises the flag.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether the flag was raised.
    pub fn is_triggered(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Lowers the flag (e.g. before resuming in the same process).
    pub fn reset(&self) {
        self.flag.store(false, Ordering::SeqCst);
        self.presses.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_flag() {
        let a = Interrupt::new();
        let b = a.clone();
        assert!(!b.is_triggered());
        a.trigger();
        assert!(b.is_triggered());
        b.reset();
        assert!(!a.is_triggered());
    }
}
