//! Optional per-operation timers of the fast path (`CHRONOMAP_CPU_PROFILE=1`).
//!
//! Each kernel call adds its wall time and call count under a name; [`report`] prints the table.
//! When the variable is not set, a timer costs one relaxed atomic load.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

static STATE: AtomicU8 = AtomicU8::new(0);

fn enabled() -> bool {
    match STATE.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var("CHRONOMAP_CPU_PROFILE").is_ok_and(|v| v.trim() == "1");
            STATE.store(if on { 1 } else { 2 }, Ordering::Relaxed);
            on
        }
    }
}

fn table() -> &'static Mutex<BTreeMap<&'static str, (f64, u64)>> {
    static T: OnceLock<Mutex<BTreeMap<&'static str, (f64, u64)>>> = OnceLock::new();
    T.get_or_init(|| Mutex::new(BTreeMap::new()))
}

/// Runs `f`, adding its duration under `name` when profiling is on.
pub(crate) fn timed<T>(name: &'static str, f: impl FnOnce() -> T) -> T {
    if !enabled() {
        return f();
    }
    let t = Instant::now();
    let r = f();
    let dt = t.elapsed().as_secs_f64();
    if let Ok(mut m) = table().lock() {
        let e = m.entry(name).or_insert((0.0, 0));
        e.0 += dt;
        e.1 += 1;
    }
    r
}

/// The accumulated timers (`name  total ms  calls`), sorted by name, then cleared. Empty when
/// `CHRONOMAP_CPU_PROFILE=1` is not set.
pub fn report() -> String {
    let Ok(mut m) = table().lock() else {
        return String::new();
    };
    let total: f64 = m.values().map(|v| v.0).sum();
    let mut s = String::new();
    for (name, (t, n)) in m.iter() {
        s.push_str(&format!("{name:24} {:9.1} ms {n:6} calls\n", t * 1e3));
    }
    if !m.is_empty() {
        s.push_str(&format!("{:24} {:9.1} ms\n", "total", total * 1e3));
    }
    m.clear();
    s
}
