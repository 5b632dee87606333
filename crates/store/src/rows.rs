//! Conversions between Rust values and SQLite columns.
//!
//! SQLite integers are `i64`; the store's API speaks `u32`/`u64` where a value cannot be
//! negative, so every crossing is checked instead of cast.

use std::time::{SystemTime, UNIX_EPOCH};

use docent_types::{DocStatus, DocType};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Decode, Row, Type};

use crate::error::StoreError;

/// Reads one column, naming it in the error.
pub(crate) fn column<'r, T>(row: &'r SqliteRow, name: &'static str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(name).map_err(|source| StoreError::Decode {
        column: name,
        source,
    })
}

pub(crate) fn u64_column(row: &SqliteRow, name: &'static str) -> Result<u64, StoreError> {
    let value: i64 = column(row, name)?;
    u64::try_from(value).map_err(|_| StoreError::InvalidValue {
        what: name,
        value: value.to_string(),
    })
}

pub(crate) fn u32_column(row: &SqliteRow, name: &'static str) -> Result<u32, StoreError> {
    let value: i64 = column(row, name)?;
    u32::try_from(value).map_err(|_| StoreError::InvalidValue {
        what: name,
        value: value.to_string(),
    })
}

pub(crate) fn optional_u32_column(
    row: &SqliteRow,
    name: &'static str,
) -> Result<Option<u32>, StoreError> {
    let value: Option<i64> = column(row, name)?;
    value
        .map(|value| {
            u32::try_from(value).map_err(|_| StoreError::InvalidValue {
                what: name,
                value: value.to_string(),
            })
        })
        .transpose()
}

pub(crate) fn doc_status_column(
    row: &SqliteRow,
    name: &'static str,
) -> Result<DocStatus, StoreError> {
    let value: String = column(row, name)?;
    DocStatus::parse(&value).ok_or(StoreError::InvalidValue {
        what: "document status",
        value,
    })
}

pub(crate) fn optional_doc_type_column(
    row: &SqliteRow,
    name: &'static str,
) -> Result<Option<DocType>, StoreError> {
    let value: Option<String> = column(row, name)?;
    value
        .map(|value| {
            DocType::parse(&value).ok_or(StoreError::InvalidValue {
                what: "document type",
                value,
            })
        })
        .transpose()
}

/// Chunks only exist for indexed documents, which always have a type.
pub(crate) fn doc_type_column(row: &SqliteRow, name: &'static str) -> Result<DocType, StoreError> {
    optional_doc_type_column(row, name)?.ok_or(StoreError::InvalidValue {
        what: "document type of an indexed document",
        value: "NULL".to_owned(),
    })
}

pub(crate) fn heading_path_column(
    row: &SqliteRow,
    name: &'static str,
) -> Result<Vec<String>, StoreError> {
    let value: String = column(row, name)?;
    serde_json::from_str(&value).map_err(|_| StoreError::InvalidValue {
        what: "heading path",
        value,
    })
}

pub(crate) fn embedding_column(
    row: &SqliteRow,
    name: &'static str,
) -> Result<Vec<f32>, StoreError> {
    let bytes: &[u8] = column(row, name)?;
    embedding_from_bytes(bytes)
}

pub(crate) fn heading_path_to_json(heading_path: &[String]) -> String {
    // Serialising a list of strings cannot fail.
    serde_json::to_string(heading_path).unwrap_or_else(|_| "[]".to_owned())
}

/// Embeddings are stored as f32 little-endian so the file reads the same on every machine.
pub(crate) fn embedding_to_bytes(embedding: &[f32]) -> Vec<u8> {
    embedding
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

pub(crate) fn embedding_from_bytes(bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    let (words, rest) = bytes.as_chunks::<4>();
    if !rest.is_empty() {
        return Err(StoreError::InvalidValue {
            what: "embedding length in bytes",
            value: bytes.len().to_string(),
        });
    }
    Ok(words.iter().map(|word| f32::from_le_bytes(*word)).collect())
}

pub(crate) fn to_sql_integer(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::TooLarge { what, value })
}

pub(crate) fn unix_seconds_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// The rows under a folder, as bounds on the `path` column that SQLite can answer from the
/// unique index on `path`.
///
/// A prefix matches whole path components: `/a/b` covers `/a/b` itself and everything that
/// starts with `/a/b/`, but not `/a/bc.txt`. Comparing ranges (rather than `LIKE`) keeps `%` and
/// `_` in file names literal and stays case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathRange {
    /// The folder (or file) itself.
    pub(crate) exact: String,
    /// Inclusive lower bound: the prefix followed by the separator.
    pub(crate) low: String,
    /// Exclusive upper bound: the prefix followed by the byte after the separator.
    pub(crate) high: String,
}

impl PathRange {
    /// `None` for an empty prefix, which names nothing.
    pub(crate) fn under(prefix: &str) -> Option<PathRange> {
        if prefix.is_empty() {
            return None;
        }
        let separator = std::path::MAIN_SEPARATOR;
        // "/" and "/a/b/" mean the same folders as "" (the root) and "/a/b".
        let trimmed = prefix.trim_end_matches(separator);
        let after_separator = char::from(separator as u8 + 1);
        Some(PathRange {
            exact: trimmed.to_owned(),
            low: format!("{trimmed}{separator}"),
            high: format!("{trimmed}{after_separator}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedding_bytes_round_trip_bit_exact() {
        let values = [
            0.0f32,
            -0.0,
            1.5,
            f32::MIN_POSITIVE / 2.0, // subnormal
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::from_bits(0x7fc0_1234), // NaN with a payload
            f32::MAX,
        ];
        let bytes = embedding_to_bytes(&values);
        assert_eq!(bytes.len(), values.len() * 4);
        assert_eq!(&bytes[8..12], &1.5f32.to_le_bytes());
        let back = embedding_from_bytes(&bytes).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&values));
    }

    #[test]
    fn embedding_with_partial_float_is_rejected() {
        let error = embedding_from_bytes(&[0, 0, 128, 63, 1]).unwrap_err();
        assert!(matches!(error, StoreError::InvalidValue { .. }), "{error}");
    }

    #[cfg(unix)]
    #[test]
    fn path_ranges() {
        fn check(prefix: &str, expected: Option<(&str, &str, &str)>) {
            let range = PathRange::under(prefix);
            let range = range
                .as_ref()
                .map(|r| (r.exact.as_str(), r.low.as_str(), r.high.as_str()));
            assert_eq!(range, expected, "prefix {prefix:?}");
        }
        check("", None);
        check("/", Some(("", "/", "0")));
        check("/a/b", Some(("/a/b", "/a/b/", "/a/b0")));
        check("/a/b//", Some(("/a/b", "/a/b/", "/a/b0")));
    }
}
