//! The BPE tokenizers a context budget can be counted in.

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
    /// counted as ordinary text).
    pub fn count(self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        self.bpe().encode_ordinary(text).len()
    }

    /// The shared encoder (loads the tables on first use).
    pub(crate) fn bpe(self) -> &'static CoreBPE {
        match self {
            Self::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
            Self::O200kBase => tiktoken_rs::o200k_base_singleton(),
        }
    }
}
