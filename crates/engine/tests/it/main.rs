//! The engine against real SQLite files, the real PostgreSQL and the simulator.

mod bootstrap;
mod execute;
mod support;
