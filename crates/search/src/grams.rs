//! The trigram index behind `content_contains`: every memory's content, lowercased (Unicode), as
//! its overlapping three-character grams, so a needle's candidates are the memories holding every
//! gram of it. A leaf: it uses no other module of the crate.
//!
//! Candidates are a superset: three grams in a memory do not make a substring of it. The store
//! applies the exact rule ([`engram_core::Needle`]) to what they name.

use tantivy::tokenizer::{NgramTokenizer, TextAnalyzer};

use engram_core::Needle;

/// The tokenizer's name in every index.
pub(crate) const NAME: &str = "engram_grams";

/// Grams of this many characters (a shorter needle word has none).
const GRAM: usize = 3;

pub(crate) fn analyzer() -> TextAnalyzer {
    // 3..=3 is a valid range: `all_ngrams` fails only on an empty or inverted one.
    let grams = NgramTokenizer::all_ngrams(GRAM, GRAM).unwrap_or_else(|_| unreachable!("3..=3 is a valid range"));
    TextAnalyzer::builder(grams).build()
}

/// What a memory's `grams` field holds: its content, lowercased like a needle.
pub(crate) fn document_text(content: &str) -> String {
    content.to_lowercase()
}

/// The distinct grams every memory matching `needle` holds: those of each of its words (split on
/// whitespace; a needle of one word is that word). A match holds each word whole, either
/// literally or, by the word-prefix rule, as the start of a word of the content. Empty when no
/// word has [`GRAM`] characters: the index cannot narrow such a needle.
pub(crate) fn needle_grams(analyzer: &mut TextAnalyzer, needle: &Needle) -> Vec<String> {
    let mut grams = std::collections::BTreeSet::new();
    for word in needle.as_str().split_whitespace() {
        let mut stream = analyzer.token_stream(word);
        while let Some(token) = stream.next() {
            grams.insert(token.text.clone());
        }
    }
    grams.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grams(needle: &str) -> Vec<String> {
        needle_grams(&mut analyzer(), &Needle::new(needle))
    }

    #[test]
    fn each_word_gives_its_grams_and_short_words_none() {
        assert_eq!(grams("Restart  Redis"), ["art", "dis", "edi", "est", "red", "res", "sta", "tar"]);
        assert_eq!(grams("auth.go"), [".go", "aut", "h.g", "th.", "uth"]);
        assert!(grams("go to it").is_empty());
        assert_eq!(grams("ÉCOLE"), ["col", "ole", "éco"]);
    }

    #[test]
    fn a_document_holds_the_grams_of_what_it_contains() {
        let mut a = analyzer();
        let text = document_text("Restarted Redis on prod-web-01; see AUTH.go");
        let mut stream = a.token_stream(&text);
        let mut held = std::collections::HashSet::new();
        while let Some(token) = stream.next() {
            held.insert(token.text.clone());
        }
        for needle in ["restart redis", "prod-web", "auth.go", "redis on"] {
            assert!(grams(needle).iter().all(|g| held.contains(g)), "{needle}");
        }
        assert!(!grams("redistribution").iter().all(|g| held.contains(g)));
    }
}
