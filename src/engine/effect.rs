//! What the engine asks the filter to do besides answering a request: start a key-set fetch, publish a
//! metric, write a log line. The filter carries these out and decides nothing.

use std::borrow::Cow;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// Start an out-of-band GET; its answer goes to `Engine::on_fetch_response` with the same `id`.
    Fetch(Fetch),
    /// Add to a counter (defined on first use).
    Count(Cow<'static, str>, u64),
    /// Set a gauge: each VM reports its own.
    Gauge(Cow<'static, str>, u64),
    /// A log line. Never holds a token, cookie, code or key: only codes, names and counts.
    Log(Level, String),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Fetch {
    pub id: u64,
    pub cluster: String,
    pub headers: Vec<(String, String)>,
    pub timeout_ms: u32,
    /// Answers with a longer body are not read (the engine sees them as truncated).
    pub max_body: usize,
}

/// The engine's outbox: effects wait here until the filter drains them after each callback.
#[derive(Debug, Default)]
pub struct Outbox {
    effects: Vec<Effect>,
}

impl Outbox {
    pub fn count(&mut self, name: impl Into<Cow<'static, str>>) {
        self.effects.push(Effect::Count(name.into(), 1));
    }

    pub fn add(&mut self, name: impl Into<Cow<'static, str>>, by: u64) {
        self.effects.push(Effect::Count(name.into(), by));
    }

    pub fn gauge(&mut self, name: impl Into<Cow<'static, str>>, value: u64) {
        self.effects.push(Effect::Gauge(name.into(), value));
    }

    pub fn log(&mut self, level: Level, line: String) {
        self.effects.push(Effect::Log(level, line));
    }

    pub fn fetch(&mut self, f: Fetch) {
        self.effects.push(Effect::Fetch(f));
    }

    pub fn drain(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }
}
