//! Engine values as the page sees them.

use std::collections::HashSet;
use std::path::Path;

use docent_engine::{
    Citation, ConversationRow, DocStatus, DocumentRow, MessageRole, MessageRow, Removed,
    RemovedKind,
};
use docent_ipc as ipc;

/// A path's file name for display. Bidirectional controls (U+202E can make `exe.pdf` read as
/// `fdp.exe`) and other invisible format characters are shown as U+FFFD.
pub fn file_name(path: &str) -> String {
    let name = Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string());
    name.chars()
        .map(|c| {
            if is_invisible_control(c) {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

fn is_invisible_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

pub fn document(row: DocumentRow) -> ipc::DocumentInfo {
    ipc::DocumentInfo {
        id: row.id,
        name: file_name(&row.path),
        title: row.title,
        doc_type: row.doc_type.map(|t| t.as_str().to_string()),
        size_bytes: row.size,
        pages: row.pages,
        chunks: row.n_chunks,
        status: match row.status {
            DocStatus::Pending => ipc::DocStatus::Pending,
            DocStatus::Indexed => ipc::DocStatus::Indexed,
            DocStatus::Skipped => ipc::DocStatus::Skipped,
            DocStatus::Failed => ipc::DocStatus::Failed,
        },
        reason: row.reason,
        indexed_at: row.indexed_at,
        path: row.path,
    }
}

pub fn passage(citation: &Citation) -> ipc::Passage {
    ipc::Passage {
        n: citation.n as u32,
        name: file_name(&citation.path),
        path: citation.path.clone(),
        title: citation.title.clone(),
        page: citation.page,
        line_start: citation.line_start,
        line_end: citation.line_end,
        text: citation.text.clone(),
        score: 0.0,
    }
}

pub fn removed(item: &Removed) -> ipc::RemovedItem {
    ipc::RemovedItem {
        kind: match item.kind {
            RemovedKind::Image => ipc::RemovedKind::Image,
            RemovedKind::Link => ipc::RemovedKind::Link,
            RemovedKind::Html => ipc::RemovedKind::Html,
            RemovedKind::SpecialToken => ipc::RemovedKind::SpecialToken,
        },
        text: item.text.clone(),
    }
}

pub fn conversation(row: ConversationRow) -> ipc::ConversationInfo {
    ipc::ConversationInfo {
        id: row.id,
        title: row.title,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

pub fn message(row: MessageRow) -> ipc::MessageInfo {
    let citations: Vec<Citation> = serde_json::from_str(&row.citations_json).unwrap_or_default();
    ipc::MessageInfo {
        id: row.id,
        role: match row.role {
            MessageRole::User => ipc::Role::User,
            MessageRole::Assistant => ipc::Role::Assistant,
        },
        content: row.content,
        citations: citations.iter().map(passage).collect(),
        found: row.found,
        created_at: row.created_at,
    }
}

/// The words of a query, lower-cased, for highlighting: letters and digits, two or more
/// characters, without the commonest English function words.
pub fn terms(query: &str) -> Vec<String> {
    const STOP: &[&str] = &[
        "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from", "how",
        "in", "is", "it", "of", "on", "or", "that", "the", "this", "to", "was", "what", "when",
        "where", "which", "who", "why", "with",
    ];
    // The page highlights these; past the search's own cap on query terms more would only
    // cost time (a pasted megabyte of distinct words), so they stop there, found with a set.
    const MAX_TERMS: usize = 64;
    let mut terms: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    for word in query.split(|c: char| !c.is_alphanumeric()) {
        let word = word.to_lowercase();
        if word.chars().count() >= 2 && !STOP.contains(&word.as_str()) && seen.insert(word.clone())
        {
            terms.push(word);
            if terms.len() == MAX_TERMS {
                break;
            }
        }
    }
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cannot_hide_their_extension() {
        assert_eq!(
            file_name("/docs/report\u{202E}fdp.exe"),
            "report\u{FFFD}fdp.exe"
        );
        assert_eq!(file_name("/docs/a\u{200B}b\n.md"), "a\u{FFFD}b\u{FFFD}.md");
        assert_eq!(file_name("/docs/Café 会议.md"), "Café 会议.md");
    }

    #[test]
    fn terms_drop_function_words_and_repeats() {
        assert_eq!(
            terms("What is the hydration of the Sourdough? sourdough, 75%"),
            vec!["hydration", "sourdough", "75"]
        );
        assert!(terms("a I ?").is_empty());
    }

    #[test]
    fn terms_of_a_megabyte_query_stop_at_the_cap() {
        let query: String = (0..200_000).map(|i| format!("w{i} ")).collect();
        let found = terms(&query);
        assert_eq!(found.len(), 64);
        assert_eq!(found[0], "w0");
        assert_eq!(found[63], "w63");
        assert_eq!(terms(&"bread ".repeat(200_000)), ["bread"]);
    }
}
