//! A tiny real SMTP server for black-box tests: accepts every message (no TLS, no AUTH) and keeps
//! it in memory, so a test can read the verification code the app mailed.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

#[derive(Clone)]
pub struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    notify: Arc<Notify>,
}

#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The RCPT TO addresses, without angle brackets.
    pub to: Vec<String>,
    /// The DATA section (headers and body), un-dot-stuffed, lines ending in CRLF.
    pub data: String,
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("smtp sink: cannot bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("smtp sink: no local address: {e}"))
            .port();
        let sink = SmtpSink {
            port,
            messages: Arc::default(),
            notify: Arc::new(Notify::new()),
        };
        let (messages, notify) = (sink.messages.clone(), sink.notify.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (messages, notify) = (messages.clone(), notify.clone());
                tokio::spawn(async move {
                    let _ = session(stream, messages, notify).await;
                });
            }
        });
        sink
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        lock(&self.messages).clone()
    }

    /// Waits up to 5 s for a message to `to` and returns the 6-digit code in the newest one.
    pub async fn code_for(&self, to: &str) -> String {
        let to = to.trim().trim_start_matches('<').trim_end_matches('>');
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            // Registered before looking, so a message arriving in between still wakes us.
            let mut notified = std::pin::pin!(self.notify.notified());
            notified.as_mut().enable();
            let mails: Vec<ReceivedMail> = self
                .messages()
                .into_iter()
                .filter(|m| m.to.iter().any(|a| a.eq_ignore_ascii_case(to)))
                .collect();
            if let Some(code) = mails.iter().rev().find_map(|m| extract_code(&m.data)) {
                return code;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "smtp sink: no mail with a 6-digit code to {to} within 5 s ({} mail(s) to it); all received: {:#?}",
                    mails.len(),
                    self.messages()
                );
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn read_line<R: AsyncBufRead + Unpin>(reader: &mut R) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if reader.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    while matches!(buf.last(), Some(b'\n' | b'\r')) {
        buf.pop();
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn session(
    stream: TcpStream,
    messages: Arc<Mutex<Vec<ReceivedMail>>>,
    notify: Arc<Notify>,
) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sink ESMTP\r\n").await?;
    let mut rcpts = Vec::new();
    while let Some(line) = read_line(&mut reader).await? {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            rcpts.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            let arg = line["RCPT TO:".len()..].trim();
            let addr = match (arg.find('<'), arg.find('>')) {
                (Some(start), Some(end)) if start < end => &arg[start + 1..end],
                _ => arg.split_whitespace().next().unwrap_or_default(),
            };
            rcpts.push(addr.to_owned());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            write.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            loop {
                let Some(line) = read_line(&mut reader).await? else {
                    return Ok(());
                };
                if line == "." {
                    break;
                }
                match line.strip_prefix('.') {
                    Some(rest) if rest.starts_with('.') => data.push_str(rest),
                    _ => data.push_str(&line),
                }
                data.push_str("\r\n");
            }
            let to = std::mem::take(&mut rcpts);
            lock(&messages).push(ReceivedMail { to, data });
            notify.notify_waiters();
            b"250 OK queued\r\n"
        } else if upper.starts_with("RSET") {
            rcpts.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 unknown\r\n"
        };
        write.write_all(reply).await?;
    }
    Ok(())
}

/// The code in a message: the first run of exactly 6 ASCII digits in its decoded bodies, text/plain
/// parts first (an HTML part may hold colours like `#333333`). Headers are never searched.
pub fn extract_code(data: &str) -> Option<String> {
    let parts = body_parts(data);
    let (plain, other): (Vec<_>, Vec<_>) = parts.iter().partition(|(headers, _)| {
        header(headers, "content-type").is_none_or(|t| t.starts_with("text/plain"))
    });
    plain
        .into_iter()
        .chain(other)
        .find_map(|(_, body)| six_digits(body))
}

fn six_digits(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while bytes.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i - start == 6 {
            return Some(text[start..i].to_owned());
        }
        i = i.max(start + 1);
    }
    None
}

/// The MIME parts of a message as (lower-cased headers, decoded body); single-part mail is one.
fn body_parts(data: &str) -> Vec<(String, String)> {
    let (mut parts, mut boundaries) = (Vec::new(), Vec::<String>::new());
    let (mut headers, mut body, mut in_headers) = (String::new(), Vec::new(), true);
    for line in data.lines() {
        let is_boundary = |b: &String| {
            let rest = line
                .trim_end()
                .strip_prefix("--")
                .and_then(|l| l.strip_prefix(b.as_str()));
            rest.is_some_and(|r| r.is_empty() || r == "--")
        };
        if in_headers {
            if line.is_empty() {
                in_headers = false;
                continue;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(at) = lower.find("boundary=") {
                let value = line[at + "boundary=".len()..].trim_start_matches('"');
                let end = value.find(['"', ';', ' ']).unwrap_or(value.len());
                boundaries.push(value[..end].to_owned());
            }
            headers.push_str(&lower);
            headers.push('\n');
        } else if boundaries.iter().any(is_boundary) {
            let text = decode(&headers, &body);
            parts.push((std::mem::take(&mut headers), text));
            body.clear();
            in_headers = true;
        } else {
            body.push(line);
        }
    }
    let text = decode(&headers, &body);
    parts.push((headers, text));
    parts
}

fn header<'a>(headers: &'a str, name: &str) -> Option<&'a str> {
    headers
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}

fn decode(headers: &str, body: &[&str]) -> String {
    match header(headers, "content-transfer-encoding") {
        Some("base64") => String::from_utf8_lossy(&base64(&body.concat())).into_owned(),
        Some("quoted-printable") => quoted_printable(body),
        _ => body.join("\n"),
    }
}

fn base64(text: &str) -> Vec<u8> {
    let (mut out, mut acc, mut bits) = (Vec::new(), 0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn quoted_printable(lines: &[&str]) -> String {
    let mut raw = Vec::new();
    for line in lines {
        match line.trim_end().strip_suffix('=') {
            Some(soft) => raw.extend_from_slice(soft.as_bytes()),
            None => {
                raw.extend_from_slice(line.as_bytes());
                raw.push(b'\n');
            }
        }
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&byte) = raw.get(i) {
        let hex = raw
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(decoded) if byte == b'=' => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_found_in_every_transfer_encoding() {
        let plain = "Date: Fri, 21 Nov 2025 01:45:00 +0000\r\nMessage-ID: <123456@x>\r\n\r\nYour code is 042917.\r\n";
        assert_eq!(extract_code(plain).as_deref(), Some("042917"));
        let qp = "Content-Transfer-Encoding: quoted-printable\r\n\r\nCode=3A 12345=\r\n6 or 1234567 not=\r\n\r\n";
        assert_eq!(extract_code(qp).as_deref(), Some("123456"));
        // "Code: 987654\n" in base64, split over two lines.
        let b64 = "Content-Transfer-Encoding: base64\r\n\r\nQ29kZTogOTg3\r\nNjU0Cg==\r\n";
        assert_eq!(extract_code(b64).as_deref(), Some("987654"));
        let multipart = "Content-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n\r\n--b1\r\n\
            Content-Type: text/html\r\n\r\n<p style=\"color:#333333\">111111</p>\r\n--b1\r\n\
            Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
            Q29kZTogOTg3NjU0Cg==\r\n--b1--\r\n";
        assert_eq!(extract_code(multipart).as_deref(), Some("987654"));
        assert_eq!(
            extract_code("Subject: 123456\r\n\r\nno code 12345 1234567\r\n"),
            None
        );
    }

    #[tokio::test]
    async fn speaks_enough_smtp() -> std::io::Result<()> {
        let sink = SmtpSink::start().await;
        let stream = TcpStream::connect(("127.0.0.1", sink.port())).await?;
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let script = "EHLO t\r\nMAIL FROM:<a@x>\r\nRCPT TO:<Bob@X.test> NOTIFY=NEVER\r\nDATA\r\n\
            Subject: hi\r\n\r\n..dot\r\nyour code: 555000\r\n.\r\nSTARTTLS\r\nQUIT\r\n";
        write.write_all(script.as_bytes()).await?;
        let mut replies = Vec::new();
        while let Some(line) = read_line(&mut reader).await? {
            replies.push(line);
        }
        let expected = [
            "220 sink ESMTP",
            "250-sink",
            "250 8BITMIME",
            "250 OK",
            "250 OK",
        ];
        assert_eq!(replies[..5], expected);
        assert_eq!(
            replies[5..],
            ["354 go ahead", "250 OK queued", "502 unknown", "221 bye"]
        );
        assert_eq!(sink.code_for("bob@x.test").await, "555000");
        let mail = &sink.messages()[0];
        assert_eq!(mail.to, ["Bob@X.test"]);
        assert!(mail.data.contains("\r\n.dot\r\n"));
        Ok(())
    }
}
