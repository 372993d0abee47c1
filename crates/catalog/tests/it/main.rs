mod conformance;
mod exec;
