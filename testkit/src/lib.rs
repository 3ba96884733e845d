//! Drives a running Salesguard over HTTP, as a client would.
pub mod chain;
pub mod client;
pub mod server;
pub mod world;

pub use client::Client;
pub use server::Server;
pub use world::World;
