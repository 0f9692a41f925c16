//! mcp-warden
#![doc = "crate docs pending"]

pub mod jose;
