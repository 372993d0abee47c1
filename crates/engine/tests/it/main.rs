//! The engine against real SQLite files, the real PostgreSQL and the simulator.

mod bootstrap;
mod boundary;
mod execute;
mod hot_cache;
mod rate_holds;
mod records;
mod support;
