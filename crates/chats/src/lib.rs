//! Chats: the model catalog, chat sessions with their message trees, and the completion
//! pipeline (context along the parent chain, key choice and retries, streaming, persistence,
//! usage records).

pub mod catalog;
pub mod chats;
pub mod completions;
pub mod conversation;
mod error;
pub mod files;
pub mod images;
mod metering;
pub mod relay;
pub mod streams;
pub mod tokens;

pub use error::{ChatsError, upstream_message};
pub use relay::Relay;
