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
        grams.extend(grams_of(analyzer, word));
    }
    grams.into_iter().collect()
}

/// The distinct grams of the needle as written, whitespace included: what content that holds it
/// literally holds.
pub(crate) fn literal_grams(analyzer: &mut TextAnalyzer, needle: &Needle) -> Vec<String> {
    let grams: std::collections::BTreeSet<String> = grams_of(analyzer, needle.as_str()).collect();
    grams.into_iter().collect()
}

fn grams_of(analyzer: &mut TextAnalyzer, text: &str) -> impl Iterator<Item = String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out.into_iter()
}

/// The first [`GRAM`] characters of `text`, if it has that many and none is whitespace.
fn head(text: &str) -> Option<&str> {
    let end = text.char_indices().nth(GRAM).map_or(text.len(), |(i, _)| i);
    let head = &text[..end];
    (head.chars().count() == GRAM && !head.contains(char::is_whitespace)).then_some(head)
}

/// The pair terms of lowercased content (the `pairs` field): for every word start (the start, or
/// after a character that is not a word character, [`engram_core::is_word_char`]), its first
/// [`GRAM`] characters joined to the first [`GRAM`] characters after the next run of whitespace.
/// Where the word-prefix rule matches two consecutive needle words, the first starts at a word
/// start and the second right after the next whitespace run: so the content holds the pair term
/// of every two consecutive needle words of [`GRAM`] characters or more ([`needle_pairs`]).
pub(crate) fn pair_terms(lowercased: &str) -> Vec<String> {
    let mut pairs = std::collections::BTreeSet::new();
    let mut previous: Option<char> = None;
    for (at, c) in lowercased.char_indices() {
        let starts_word = previous.is_none_or(|p| !engram_core::is_word_char(p));
        previous = Some(c);
        if !starts_word || c.is_whitespace() {
            continue;
        }
        let rest = &lowercased[at..];
        let Some(first) = head(rest) else { continue };
        let Some(space) = rest.find(char::is_whitespace) else { continue };
        let next = rest[space..].trim_start_matches(char::is_whitespace);
        if let Some(second) = head(next) {
            pairs.insert(format!("{first}{second}"));
        }
    }
    pairs.into_iter().collect()
}

/// The pair terms a memory must hold to match a needle of several words by the word-prefix rule:
/// one per two consecutive words of [`GRAM`] characters or more (see [`pair_terms`]).
pub(crate) fn needle_pairs(needle: &Needle) -> Vec<String> {
    let words: Vec<&str> = needle.as_str().split_whitespace().collect();
    let mut pairs: Vec<String> =
        words.windows(2).filter_map(|w| Some(format!("{}{}", head(w[0])?, head(w[1])?))).collect();
    pairs.sort();
    pairs.dedup();
    pairs
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
    fn pair_terms_of_content_and_needles() {
        let text = document_text("(Restarted  Redis) on prod-web-01\trestart x");
        let pairs = pair_terms(&text);
        for needle in ["restart redis", "restarted redis) on", "web-01 restart", "01 restart", "prod-web-01 restart"] {
            let want = needle_pairs(&Needle::new(needle));
            assert!(want.iter().all(|p| pairs.contains(p)), "{needle}: {want:?} not in {pairs:?}");
        }
        assert_eq!(needle_pairs(&Needle::new("Restart  the Redis")), ["resthe", "thered"]);
        assert!(needle_pairs(&Needle::new("go to it")).is_empty());
        assert!(!pairs.contains(&"resthe".to_owned()));
        assert_eq!(literal_grams(&mut analyzer(), &Needle::new("ed Re")), [" re", "d r", "ed "].map(str::to_owned));
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
