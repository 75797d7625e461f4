//! Text to terms, the same for documents and queries: Unicode word split, Unicode lowercase,
//! ASCII folding of accents, English stop words, the English (Snowball) stemmer. And the query
//! language: words, and "quoted phrases".

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

/// The tokenizer's name in every index.
pub(crate) const NAME: &str = "engram";

/// Tokens longer than this (in bytes) are dropped: base64 blobs and hashes are not words.
const LONGEST_TOKEN: usize = 64;

pub(crate) fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(LONGEST_TOKEN))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::new(Language::English).expect("tantivy ships English stop words"))
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
