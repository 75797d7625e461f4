//! Text to terms, the same for documents and queries: Unicode word split, Unicode lowercase,
//! ASCII folding of accents, the Snowball English stop words, the English (Snowball) stemmer. And the query
//! language: words, and "quoted phrases".

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

/// The tokenizer's name in every index.
pub(crate) const NAME: &str = "engram";

/// Tokens longer than this (in bytes) are dropped: base64 blobs and hashes are not words.
const LONGEST_TOKEN: usize = 64;

/// The Snowball project's English stop words (snowballstem.org, `english/stop.txt`), the list
/// its stemmer is meant for, with the contractions as the tokenizer splits them ("don't" gives
/// "don" and "t"). Tantivy's own English list (Lucene's) has 33 words only.
const STOP_WORDS: &[&str] = &[
    "i",
    "me",
    "my",
    "myself",
    "we",
    "our",
    "ours",
    "ourselves",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
    "he",
    "him",
    "his",
    "himself",
    "she",
    "her",
    "hers",
    "herself",
    "it",
    "its",
    "itself",
    "they",
    "them",
    "their",
    "theirs",
    "themselves",
    "what",
    "which",
    "who",
    "whom",
    "this",
    "that",
    "these",
    "those",
    "am",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "have",
    "has",
    "had",
    "having",
    "do",
    "does",
    "did",
    "doing",
    "would",
    "should",
    "could",
    "ought",
    "a",
    "an",
    "the",
    "and",
    "but",
    "if",
    "or",
    "because",
    "as",
    "until",
    "while",
    "of",
    "at",
    "by",
    "for",
    "with",
    "about",
    "against",
    "between",
    "into",
    "through",
    "during",
    "before",
    "after",
    "above",
    "below",
    "to",
    "from",
    "up",
    "down",
    "in",
    "out",
    "on",
    "off",
    "over",
    "under",
    "again",
    "further",
    "then",
    "once",
    "here",
    "there",
    "when",
    "where",
    "why",
    "how",
    "all",
    "any",
    "both",
    "each",
    "few",
    "more",
    "most",
    "other",
    "some",
    "such",
    "no",
    "nor",
    "not",
    "only",
    "own",
    "same",
    "so",
    "than",
    "too",
    "very",
    "s",
    "t",
    "d",
    "ll",
    "m",
    "re",
    "ve",
    "don",
    "isn",
    "aren",
    "wasn",
    "weren",
    "hasn",
    "haven",
    "hadn",
    "doesn",
    "didn",
    "won",
    "wouldn",
    "shan",
    "shouldn",
    "can",
    "cannot",
    "couldn",
    "mustn",
    "let",
];

pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(STOP_WORDS.iter().map(|w| (*w).to_owned())))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// The terms of `text` with their positions (stop words leave gaps in the positions).
pub(crate) fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(usize, String)> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push((token.position, token.text.clone()));
    }
    out
}

/// A search query as written: bare words (any may match; each adds to the score) and quoted
/// phrases (each must match, words in that order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TextQuery {
    pub words: Vec<String>,
    pub phrases: Vec<String>,
}

impl TextQuery {
    /// Splits `text` on double quotes: inside a pair, a phrase; outside, words. An unpaired quote
    /// opens a phrase that runs to the end. Every other character is text (no operators).
    pub fn parse(text: &str) -> Self {
        let mut query = TextQuery::default();
        for (i, part) in text.split('"').enumerate() {
            if part.trim().is_empty() {
                continue;
            }
            if i % 2 == 1 {
                query.phrases.push(part.trim().to_owned());
            } else {
                query.words.extend(part.split_whitespace().map(str::to_owned));
            }
        }
        query
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_phrases() {
        let q = TextQuery::parse(r#"deploy "restarted redis" prod  "#);
        assert_eq!(q.words, ["deploy", "prod"]);
        assert_eq!(q.phrases, ["restarted redis"]);
        let q = TextQuery::parse(r#"a "open ended"#);
        assert_eq!(q.phrases, ["open ended"]);
    }

    #[test]
    fn stems_folds_and_drops_stop_words() {
        let mut a = analyzer();
        let t: Vec<String> =
            terms(&mut a, "The DEPLOYMENTS was Restarted — café Ünïcode").into_iter().map(|t| t.1).collect();
        assert_eq!(t, ["deploy", "restart", "cafe", "unicod"]);
    }
}
