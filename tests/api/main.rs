//! Integration tests: the real server on a random port against a real PostgreSQL, one fresh
//! database per test (see helpers.rs). Run them with scripts/test.sh.

mod account_data;
mod admin;
mod auth;
mod authorization;
mod bad_input;
mod browser;
mod cli;
mod cluster;
mod cluster_support;
mod config;
mod consistency;
mod contact;
mod contract;
mod cors;
mod helpers;
mod hostile;
mod messages;
mod moderation;
mod operations;
mod ordering;
mod quotas;
mod retention;
mod rooms;
mod search;
mod social;
mod support;
mod tokens;
mod users;
mod web;
mod ws_delivery;
mod ws_presence;
mod ws_protocol;
mod ws_resilience;
