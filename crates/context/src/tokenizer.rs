//! The BPE tokenizers a context budget can be counted in, and a cache of counts.
//!
//! tiktoken splits text into pieces with a regular expression and encodes each piece on its own.
//! For both encodings a line break followed by a character that is neither whitespace nor `/`
//! ends a piece: the patterns that take line breaks take them only at their end (o200k's
//! punctuation pattern also takes `/` after them), and a whitespace run is cut after its last
//! line break. So the count of a text is the sum of the counts of its *segments*, each ending
//! there, and a segment's
//! count can be cached: context assembly counts the same memory lines request after request
//! (and the assembled text is made of lines it has counted). `tests::segments_add_up` checks the
//! property against tiktoken on random text.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use tiktoken_rs::CoreBPE;

/// A tiktoken encoding. The BPE tables are process-wide singletons, loaded on first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tokenizer {
    /// GPT-4 / GPT-3.5 / text-embedding-3 encoding (the default).
    #[default]
    Cl100kBase,
    /// GPT-4o / GPT-4.1 / o-series / GPT-5 encoding.
    O200kBase,
}

impl Tokenizer {
    /// Every supported tokenizer.
    pub const ALL: [Tokenizer; 2] = [Self::Cl100kBase, Self::O200kBase];

    /// `"cl100k_base"` or `"o200k_base"`; anything else is `None` (an empty name meaning "the
    /// default" is the caller's decision).
    pub fn parse(name: &str) -> Option<Tokenizer> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The encoding's tiktoken name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cl100kBase => "cl100k_base",
            Self::O200kBase => "o200k_base",
        }
    }

    /// The exact number of BPE tokens of `text` (special-token text such as `<|endoftext|>` is
    /// counted as ordinary text): the sum of its segments' counts, each from the cache or counted
    /// once.
    pub fn count(self, text: &str) -> usize {
        segments(text).map(|segment| self.count_segment(segment)).sum()
    }

    /// The count of one segment (no line break followed by another character inside).
    fn count_segment(self, segment: &str) -> usize {
        let cache = &COUNTS[self as usize];
        if let Some(n) = cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(segment) {
            return n;
        }
        let n = self.bpe().encode_ordinary(segment).len();
        if segment.len() <= MAX_CACHED_SEGMENT {
            cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(segment, n);
        }
        n
    }

    /// The shared encoder (loads the tables on first use).
    pub(crate) fn bpe(self) -> &'static CoreBPE {
        match self {
            Self::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            Self::O200kBase => tiktoken_rs::o200k_base_singleton(),
        }
    }
}

/// `text` cut after each line break (`\r`, `\n`) followed by a character that is neither
/// whitespace nor `/`.
fn segments(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < bytes.len() {
            let newline = matches!(bytes[i], b'\n' | b'\r');
            i += 1;
            let ends = |c: char| !c.is_whitespace() && c != '/';
            if newline && text[i..].chars().next().is_some_and(ends) {
                let segment = &text[start..i];
                start = i;
                return Some(segment);
            }
        }
        (start < bytes.len()).then(|| {
            let segment = &text[start..];
            start = bytes.len();
            segment
        })
    })
}

/// Segments longer than this are counted every time (a cache entry per huge text would be waste).
const MAX_CACHED_SEGMENT: usize = 4096;

/// Most segments kept per generation of [`Counts`].
const GENERATION: usize = 8192;

/// Token counts of segments, per tokenizer: two generations of at most [`GENERATION`] entries
/// each (an entry found in the old one moves to the new one; when the new one is full the old
/// one is dropped), so what context assembly keeps asking for stays and memory stays bounded.
struct Counts {
    new: HashMap<Box<str>, usize>,
    old: HashMap<Box<str>, usize>,
}

static COUNTS: LazyLock<[Mutex<Counts>; 2]> =
    LazyLock::new(|| [Mutex::new(Counts::empty()), Mutex::new(Counts::empty())]);

impl Counts {
    fn empty() -> Self {
        Self { new: HashMap::new(), old: HashMap::new() }
    }

    fn get(&mut self, segment: &str) -> Option<usize> {
        if let Some(n) = self.new.get(segment) {
            return Some(*n);
        }
        let n = self.old.remove(segment)?;
        self.insert(segment, n);
        Some(n)
    }

    fn insert(&mut self, segment: &str, n: usize) {
        if self.new.len() >= GENERATION {
            self.old = std::mem::take(&mut self.new);
        }
        self.new.insert(segment.into(), n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn segments_end_after_line_break_runs() {
        let cut: Vec<&str> = segments("## T\n\n### A (1)\n- x\r\n  Reasoning: y\n- z").collect();
        assert_eq!(cut, vec!["## T\n\n", "### A (1)\n", "- x\r\n  Reasoning: y\n", "- z"]);
        assert_eq!(segments("").count(), 0);
        assert_eq!(segments("\n\n").collect::<Vec<_>>(), vec!["\n\n"]);
        assert_eq!(segments("\na").collect::<Vec<_>>(), vec!["\n", "a"]);
        assert_eq!(segments(".\r/.").collect::<Vec<_>>(), vec![".\r/."]);
    }

    fn text() -> impl Strategy<Value = String> {
        // Line breaks, spaces and tabs, punctuation, digits, letters of several scripts, marks and
        // emoji, the contraction letters: what the patterns distinguish.
        let pieces = prop::sample::select(vec![
            "\n", "\r", "\r\n", "\n\n", " ", "  ", "\t", ".", "]", "[", ":", "- ", "'s", "'", "/", "…", "42", "1234",
            "word", "Word", "WORD", "é", "e\u{301}", "日本", "🚀", "👍🏽", "\u{200d}", "ß", "Ω", "x", "\u{a0}",
            "\u{2028}", "\u{3000}", "\r\n ", "\n\t", "/", "//", "!\n", "?!", "\"", "#", "##",
        ]);
        prop::collection::vec(pieces, 0..60).prop_map(|parts| parts.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The count of a text is the sum of its segments' counts (the cache relies on it).
        #[test]
        fn segments_add_up(text in text()) {
            for tokenizer in Tokenizer::ALL {
                let whole = tokenizer.bpe().encode_ordinary(&text).len();
                let summed: usize = segments(&text).map(|s| tokenizer.bpe().encode_ordinary(s).len()).sum();
                prop_assert_eq!(summed, whole, "{:?} on {:?}", tokenizer, text);
                prop_assert_eq!(tokenizer.count(&text), whole);
            }
        }
    }
}
