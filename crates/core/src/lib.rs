//! Shared building blocks of Confab: the error code table every crate maps onto, pagination and
//! the clock. Nothing here knows about HTTP frameworks or databases.

pub mod changes;
pub mod clock;
pub mod crypto;
pub mod csv;
pub mod error;
pub mod generation;
pub mod limiter;
pub mod limits;
mod nullable;
pub mod page;
pub mod rests;
pub mod schema;

pub use changes::{ChangeFeed, ChangeWatch, LocalChanges};
pub use clock::{Clock, SystemClock};
pub use crypto::{CryptoError, SecretBox};
pub use error::{Code, ErrorCode};
pub use generation::Generation;
pub use limiter::{FailureLimiter, InMemoryLimiter, Refusal};
pub use limits::{MAX_CREDITS, MAX_PRICE};
pub use nullable::nullable;
pub use page::{Page, PageRequest};
pub use rests::{LocalRests, SharedRests};
