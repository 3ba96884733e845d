//! Parsed GraphQL documents, kept by their text.
//!
//! A client sends the same few operations over and over, with different
//! variables. Parsing a document is a few percent of a mutation's CPU, so
//! the server parses each text once and hands a copy of the parsed document
//! to the schema (`Request::set_parsed_query`). The schema still checks the
//! document's depth, validates it and runs it as usual; only the parse is
//! skipped. Texts that do not parse are not kept: the schema parses them
//! again and reports the error.
//!
//! The cache is bounded in entries and in the size of a text, so clients
//! sending many different documents cannot grow it: when it is full it is
//! emptied and fills again with what is sent next.
use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::{parse_query, types::ExecutableDocument};
use async_graphql::Request;

/// Documents kept at most.
pub const MAX_DOCUMENTS: usize = 512;
/// Longer texts are parsed on every request and not kept.
pub const MAX_TEXT_LEN: usize = 16 * 1024;

#[derive(Default)]
pub struct Documents {
    parsed: Mutex<HashMap<String, ExecutableDocument>>,
}

impl Documents {
    /// Gives `req` its parsed document, from the cache or parsed now and
    /// kept. A text that does not parse is left to the schema.
    pub fn prepare(&self, req: &mut Request) {
        if req.query.len() > MAX_TEXT_LEN {
            return;
        }
        if let Some(doc) = self.get(&req.query) {
            req.set_parsed_query(doc);
            return;
        }
        let Ok(doc) = parse_query(&req.query) else {
            return;
        };
        if let Ok(mut parsed) = self.parsed.lock() {
            if parsed.len() >= MAX_DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(req.query.clone(), doc.clone());
        }
        req.set_parsed_query(doc);
    }

    fn get(&self, text: &str) -> Option<ExecutableDocument> {
        self.parsed.lock().ok()?.get(text).cloned()
    }

    /// How many documents are kept (for the tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.parsed.lock().map(|p| p.len()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_parsed_once_and_a_bad_one_is_not_kept() {
        let docs = Documents::default();
        let mut a = Request::new("{ __typename }");
        docs.prepare(&mut a);
        assert_eq!(docs.len(), 1);
        let mut again = Request::new("{ __typename }");
        docs.prepare(&mut again);
        assert_eq!(docs.len(), 1);
        let mut bad = Request::new("{ __typename ");
        docs.prepare(&mut bad);
        assert_eq!(docs.len(), 1, "a text that does not parse is not kept");
        let mut long = Request::new(format!("{{ __typename }}{}", " ".repeat(MAX_TEXT_LEN)));
        docs.prepare(&mut long);
        assert_eq!(docs.len(), 1, "a text over the size limit is not kept");
    }

    #[test]
    fn a_full_cache_is_emptied_before_it_grows() {
        let docs = Documents::default();
        for i in 0..MAX_DOCUMENTS {
            docs.prepare(&mut Request::new(format!("{{ a{i}: __typename }}")));
        }
        assert_eq!(docs.len(), MAX_DOCUMENTS);
        docs.prepare(&mut Request::new("{ b: __typename }"));
        assert_eq!(docs.len(), 1);
    }
}
