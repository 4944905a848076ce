//! Splits a streamed response body into lines as the bytes arrive (SSE and NDJSON are both
//! line-framed), without ever holding more than one unfinished line.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::ProviderError;

/// A line longer than this is not a stream chunk any provider sends.
const MAX_LINE: usize = 4 * 1024 * 1024;

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

pub(crate) struct Lines {
    body: Body,
    buf: BytesMut,
    scanned: usize,
    idle: Duration,
    ended: bool,
}

impl Lines {
    pub(crate) fn new(response: reqwest::Response, idle: Duration) -> Self {
        Self {
            body: Box::pin(response.bytes_stream()),
            buf: BytesMut::new(),
            scanned: 0,
            idle,
            ended: false,
        }
    }

    /// The next line without its `\n` / `\r\n`; `Ok(None)` at the end of the body.
    pub(crate) async fn next_line(&mut self) -> Result<Option<Bytes>, ProviderError> {
        loop {
            if let Some(offset) = self.buf[self.scanned..].iter().position(|b| *b == b'\n') {
                let end = self.scanned + offset;
                let mut line = self.buf.split_to(end + 1);
                self.scanned = 0;
                line.truncate(end);
                if line.last() == Some(&b'\r') {
                    line.truncate(end - 1);
                }
                return Ok(Some(line.freeze()));
            }
            self.scanned = self.buf.len();
            if self.ended {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                self.scanned = 0;
                return Ok(Some(self.buf.split().freeze()));
            }
            match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => return Err(ProviderError::Timeout),
                Ok(None) => self.ended = true,
                Ok(Some(Ok(chunk))) => {
                    if self.buf.len() + chunk.len() > MAX_LINE {
                        return Err(ProviderError::Malformed("a stream line is too long".into()));
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                Ok(Some(Err(error))) => {
                    return Err(ProviderError::Disconnected(error.to_string()));
                }
            }
        }
    }
}
