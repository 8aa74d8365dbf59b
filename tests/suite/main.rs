//! tenure's integration tests, as one test binary (one link, one process): each file is a
//! module named after what it tests. Database tests run against the PostgreSQL that
//! `scripts/test.sh` starts; chain tests against the devnet (the `tenure-devnet` crate).

mod catchup;
mod chain_check;
mod chain_client;
mod chain_state;
mod code_map;
mod common;
mod config;
mod daemon;
mod db;
mod deploy;
mod devnet;
mod devnet_axons;
mod devnet_commit_reveal;
mod devnet_conformance;
mod devnet_faults;
mod ha;
mod hardening;
mod http;
mod ingest;
mod lab;
mod network;
mod notify;
mod openapi;
mod pruned;
mod python_client;
mod sdk_devnet;
mod sdk_weights;
mod uptime_api;
mod uptime_probe;
mod vesting;
mod wallet;
mod warm_start;
mod web;
mod weights;
mod weights_inputs;
