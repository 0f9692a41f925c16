//! mcp-warden
#![doc = "crate docs pending"]

pub mod dpop;
pub mod guard;
pub mod jose;
pub mod token;
pub mod vectors;
