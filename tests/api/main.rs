//! Integration tests: the real server on a random port against a real PostgreSQL, one fresh
//! database per test (see helpers.rs). Run them with scripts/test.sh.

mod auth;
mod bad_input;
mod cli;
mod config;
mod helpers;
mod operations;
mod tokens;
mod users;
