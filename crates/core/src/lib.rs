//! Shared building blocks of Confab: the error code table every crate maps onto, pagination and
//! the clock. Nothing here knows about HTTP frameworks or databases.

pub mod clock;
pub mod crypto;
pub mod error;
pub mod generation;
pub mod limits;
mod nullable;
pub mod page;
pub mod schema;

pub use clock::{Clock, SystemClock};
pub use crypto::{CryptoError, SecretBox};
pub use error::{Code, ErrorCode};
pub use generation::Generation;
pub use limits::{MAX_CREDITS, MAX_PRICE};
pub use nullable::nullable;
pub use page::{Page, PageRequest};
