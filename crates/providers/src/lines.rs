//! Splits a streamed response body into lines as the bytes arrive (SSE and NDJSON are both
//! line-framed), without ever holding more than one unfinished line; and such a body as a
//! stream of chat events.

use std::collections::VecDeque;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};

use crate::{ChatEvent, ChatStream, ProviderError};

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

/// What one line did to a chat stream.
pub(crate) enum Step {
    Continue,
    /// The provider's end marker (`[DONE]`, `done: true`).
    Done,
}

/// Reads one line, appending the events it carries.
pub(crate) type ParseLine = fn(&[u8], &mut VecDeque<ChatEvent>) -> Result<Step, ProviderError>;

struct EventState {
    lines: Lines,
    parse: ParseLine,
    pending: VecDeque<ChatEvent>,
    done: bool,
    unterminated: &'static str,
}

/// A line-framed streamed body as chat events. A body that ends before `parse` has seen the
/// end marker is an error (`unterminated` says which marker was missing); so is the first
/// line that does not parse, which also ends the stream.
pub(crate) fn chat_events(
    response: reqwest::Response,
    idle: Duration,
    parse: ParseLine,
    unterminated: &'static str,
) -> ChatStream {
    let state = EventState {
        lines: Lines::new(response, idle),
        parse,
        pending: VecDeque::new(),
        done: false,
        unterminated,
    };
    Box::pin(futures_util::stream::unfold(state, next_event))
}

async fn next_event(
    mut state: EventState,
) -> Option<(Result<ChatEvent, ProviderError>, EventState)> {
    loop {
        if let Some(event) = state.pending.pop_front() {
            return Some((Ok(event), state));
        }
        if state.done {
            return None;
        }
        let result = match state.lines.next_line().await {
            Ok(Some(line)) => (state.parse)(&line, &mut state.pending),
            Ok(None) => Err(ProviderError::Disconnected(state.unterminated.into())),
            Err(error) => Err(error),
        };
        match result {
            Ok(Step::Continue) => {}
            Ok(Step::Done) => state.done = true,
            Err(error) => {
                state.done = true;
                return Some((Err(error), state));
            }
        }
    }
}
