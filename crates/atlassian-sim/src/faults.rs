//! Injected faults: decided per request from the seeded RNG.

use rand::Rng;

use crate::config::Faults;
use crate::state::SimState;

/// Marker put on a response to make the server close the connection instead of answering.
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

#[derive(Debug, PartialEq, Eq)]
pub enum Fault {
    None,
    Drop,
    ServerError,
    TooManyRequests,
}

pub fn roll(state: &SimState, faults: &Faults) -> Fault {
    if !faults.any() {
        return Fault::None;
    }
    let mut rng = state.fault_rng.lock();
    let x: f64 = rng.random();
    let mut edge = faults.drop_rate;
    if x < edge {
        return Fault::Drop;
    }
    edge += faults.error_rate;
    if x < edge {
        return Fault::ServerError;
    }
    edge += faults.rate_limit_rate;
    if x < edge {
        return Fault::TooManyRequests;
    }
    Fault::None
}
