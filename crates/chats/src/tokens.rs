//! Token estimates where a provider reports none (interrupted streams, context trimming), with
//! OpenAI's cl100k encoding. Loaded on first use: it costs some memory and ~100 ms to build, and
//! a gateway relaying /v1 traffic with provider-reported usage never needs it.

use serde_json::Value;

/// OpenAI's per-message framing overhead (`<|start|>role\n...<|end|>`).
const PER_MESSAGE: u32 = 4;

/// Builds the encoding now (about 100 ms of CPU); call it on a blocking thread at start so the
/// first request that needs an estimate does not build it on an async worker.
pub fn warm_up() {
    let _ = tiktoken_rs::cl100k_base_singleton();
}

pub fn count(text: &str) -> u32 {
    if text.is_empty() {
        return 0;
    }
    let tokens = tiktoken_rs::cl100k_base_singleton()
        .encode_ordinary(text)
        .len();
    u32::try_from(tokens).unwrap_or(u32::MAX)
}

/// Estimated prompt tokens of OpenAI-shaped messages (text parts only).
pub fn count_messages(messages: &[Value]) -> u32 {
    let mut total = 3u32; // every reply is primed with <|start|>assistant
    for message in messages {
        total = total.saturating_add(PER_MESSAGE);
        match message.get("content") {
            Some(Value::String(text)) => total = total.saturating_add(count(text)),
            Some(Value::Array(parts)) => {
                for part in parts {
                    if let Some(text) = part.get("text").and_then(Value::as_str) {
                        total = total.saturating_add(count(text));
                    }
                }
            }
            _ => {}
        }
    }
    total
}

/// A turn of history with its size.
#[derive(Debug, Clone)]
pub struct Turn {
    pub role: String,
    pub content: String,
    pub tokens: u32,
}

/// Keeps the newest turns that fit in `budget` tokens, oldest first. The system prompt (if any)
/// and the newest turn are always kept; None when even those do not fit.
pub fn trim(system: Option<&Turn>, turns: &[Turn], budget: u32) -> Option<Vec<Value>> {
    let mut used = 3 + system.map_or(0, |s| s.tokens + PER_MESSAGE);
    let mut kept = 0;
    for turn in turns.iter().rev() {
        let cost = turn.tokens + PER_MESSAGE;
        if used + cost > budget {
            break;
        }
        used += cost;
        kept += 1;
    }
    if kept == 0 {
        return None;
    }
    let mut messages = Vec::with_capacity(kept + 1);
    if let Some(system) = system {
        messages.push(serde_json::json!({"role": "system", "content": system.content}));
    }
    for turn in &turns[turns.len() - kept..] {
        messages.push(serde_json::json!({"role": turn.role, "content": turn.content}));
    }
    Some(messages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(role: &str, tokens: u32) -> Turn {
        Turn {
            role: role.into(),
            content: format!("{role}-{tokens}"),
            tokens,
        }
    }

    #[test]
    fn counts_like_openai() {
        assert_eq!(count("Hello world"), 2);
        assert_eq!(count(""), 0);
    }

    #[test]
    fn trims_oldest_first_and_keeps_the_newest() {
        let turns = vec![turn("user", 100), turn("assistant", 100), turn("user", 10)];
        let kept = trim(None, &turns, 130).unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[1]["content"], "user-10");
        assert!(trim(None, &turns, 10).is_none());
        let system = turn("system", 5);
        let kept = trim(Some(&system), &turns, 1000).unwrap();
        assert_eq!(kept.len(), 4);
        assert_eq!(kept[0]["role"], "system");
    }
}
