//! The model's tokenizer, built from GGUF metadata alone, and the rule that keeps untrusted text
//! from ever becoming a control token.
//!
//! Two vocabularies are supported, as llama.cpp names them in `tokenizer.ggml.model`:
//! - `gpt2`: byte-level BPE (SmolLM, Llama 3), from `tokens` + `merges`, with the pre-tokenizer
//!   that `tokenizer.ggml.pre` names. Built as below it matches llama.cpp id for id (see the
//!   fixture test and MODEL-NOTES.md); candle's own GGUF helper adds a prefix space and does not.
//! - `llama`: SentencePiece (Llama 2, TinyLlama), from `tokens` + `scores`: spaces become `▁`,
//!   text after a control token (and at the start) gets a leading space, unknown characters fall
//!   back to `<0xNN>` byte tokens. It is run as a BPE whose merges are derived from the scores,
//!   the way Hugging Face converts these vocabularies.
//!
//! Security: the [`tokenizers::Tokenizer`] inside has no added tokens at all, so any text it
//! encodes comes out as ordinary tokens: `"<|im_end|>"` in a document is a handful of
//! punctuation and word pieces, never the end-of-turn token. Control tokens only enter a prompt
//! through [`Segment::Template`], where this module finds their exact strings itself.

use std::collections::HashMap;

use tokenizers::decoders::DecoderWrapper;
use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::strip::Strip;
use tokenizers::models::bpe::{BPE, Vocab};
use tokenizers::normalizers::replace::Replace;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{SplitDelimiterBehavior, Tokenizer};

use crate::GenerateError;
use crate::gguf::GgufFile;

/// The pre-tokenizer regex of Llama 3 (`tokenizer.ggml.pre` = `llama-bpe`), from its tokenizer.json.
const LLAMA3_SPLIT_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// SentencePiece's visible space.
const SPM_SPACE: char = '\u{2581}';

/// Token names that end a turn in the chat formats Docent knows, whatever the metadata says.
const STOP_TOKEN_NAMES: [&str; 5] = [
    "<|im_end|>",
    "<|eot_id|>",
    "<|end_of_text|>",
    "<|endoftext|>",
    "</s>",
];

/// llama.cpp's token types (`tokenizer.ggml.token_type`).
const TOKEN_TYPE_CONTROL: i64 = 3;
const TOKEN_TYPE_USER_DEFINED: i64 = 4;
const TOKEN_TYPE_UNKNOWN: i64 = 2;
const TOKEN_TYPE_BYTE: i64 = 6;

/// A piece of a prompt: template text may name control tokens, untrusted text may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment<'a> {
    /// Text written by Docent or by the model's chat template: control-token strings in it
    /// (`<|im_start|>`) become control tokens.
    Template(&'a str),
    /// Text from documents or the user: always encoded as ordinary tokens.
    Untrusted(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Vocabulary {
    ByteLevelBpe,
    SentencePiece { add_space_prefix: bool },
}

/// The tokenizer of a GGUF model.
#[derive(Clone)]
pub struct GgufTokenizer {
    /// No added tokens: everything it encodes is ordinary text.
    inner: Tokenizer,
    vocabulary: Vocabulary,
    tokens: Vec<String>,
    /// Control tokens and user-defined tokens, matched in template text only, longest first.
    template_tokens: Vec<(String, u32)>,
    /// Indexed by token id: true for control tokens (never produced from untrusted text,
    /// never shown when decoding).
    is_control: Vec<bool>,
    stop_ids: Vec<u32>,
    bos_id: Option<u32>,
    eos_id: Option<u32>,
    add_bos: bool,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("vocabulary", &self.vocabulary)
            .field("vocab_size", &self.tokens.len())
            .field("stop_ids", &self.stop_ids)
            .field("bos_id", &self.bos_id)
            .field("add_bos", &self.add_bos)
            .finish_non_exhaustive()
    }
}

impl GgufTokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, GenerateError> {
        let bad = |reason: String| GenerateError::BadTokenizer {
            path: file.path.clone(),
            reason,
        };
        let model = file
            .get_str("tokenizer.ggml.model")
            .ok_or_else(|| bad("no tokenizer.ggml.model".into()))?;
        let tokens: Vec<String> = match file.get_array("tokenizer.ggml.tokens") {
            Some(crate::gguf::MetaArray::String(tokens)) if !tokens.is_empty() => tokens.clone(),
            _ => return Err(bad("no tokenizer.ggml.tokens".into())),
        };
        let n_tokens = tokens.len();
        let token_types = match file.get_array("tokenizer.ggml.token_type") {
            Some(array) => {
                let types = array
                    .to_i64_vec()
                    .ok_or_else(|| bad("tokenizer.ggml.token_type is not integers".into()))?;
                if types.len() != n_tokens {
                    return Err(bad(format!(
                        "{} token types for {n_tokens} tokens",
                        types.len()
                    )));
                }
                types
            }
            None => vec![1; n_tokens],
        };
        let token_id = |key: &str| -> Result<Option<u32>, GenerateError> {
            match file.get_u64(key) {
                None => Ok(None),
                Some(id) if (id as usize) < n_tokens => Ok(Some(id as u32)),
                Some(id) => Err(bad(format!("{key} {id} is not a token id"))),
            }
        };
        let bos_id = token_id("tokenizer.ggml.bos_token_id")?;
        let eos_id = token_id("tokenizer.ggml.eos_token_id")?;
        let eot_id = token_id("tokenizer.ggml.eot_token_id")?;

        let (inner, vocabulary) = match model {
            "gpt2" => {
                let merges = match file.get_array("tokenizer.ggml.merges") {
                    Some(crate::gguf::MetaArray::String(merges)) => merges,
                    _ => return Err(bad("a gpt2 tokenizer without tokenizer.ggml.merges".into())),
                };
                let pre = file.get_str("tokenizer.ggml.pre").unwrap_or("default");
                (
                    build_byte_level_bpe(&tokens, merges, pre).map_err(bad)?,
                    Vocabulary::ByteLevelBpe,
                )
            }
            "llama" => {
                let scores = match file.get_array("tokenizer.ggml.scores") {
                    Some(array) => array
                        .to_f32_vec()
                        .ok_or_else(|| bad("tokenizer.ggml.scores is not floats".into()))?,
                    None => vec![0.0; n_tokens],
                };
                if scores.len() != n_tokens {
                    return Err(bad(format!(
                        "{} token scores for {n_tokens} tokens",
                        scores.len()
                    )));
                }
                let unknown = token_id("tokenizer.ggml.unknown_token_id")?;
                let add_space_prefix = file
                    .get("tokenizer.ggml.add_space_prefix")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(true);
                let inner = build_sentencepiece_bpe(&tokens, &scores, &token_types, unknown)
                    .map_err(bad)?;
                (inner, Vocabulary::SentencePiece { add_space_prefix })
            }
            other => {
                return Err(bad(format!(
                    "unsupported tokenizer model {other:?} (Docent reads gpt2 and llama)"
                )));
            }
        };

        let is_control: Vec<bool> = token_types
            .iter()
            .map(|&t| t == TOKEN_TYPE_CONTROL)
            .collect();
        let mut template_tokens: Vec<(String, u32)> = token_types
            .iter()
            .enumerate()
            .filter(|&(_, &t)| t == TOKEN_TYPE_CONTROL || t == TOKEN_TYPE_USER_DEFINED)
            .map(|(id, _)| (tokens[id].clone(), id as u32))
            .filter(|(text, _)| !text.is_empty())
            .collect();
        template_tokens.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));

        let mut stop_ids: Vec<u32> = [eos_id, eot_id].into_iter().flatten().collect();
        for name in STOP_TOKEN_NAMES {
            if let Some(id) = tokens.iter().position(|t| t == name) {
                stop_ids.push(id as u32);
            }
        }
        stop_ids.sort_unstable();
        stop_ids.dedup();

        let add_bos = file
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or(matches!(vocabulary, Vocabulary::SentencePiece { .. }));

        Ok(Self {
            inner,
            vocabulary,
            tokens,
            template_tokens,
            is_control,
            stop_ids,
            bos_id,
            eos_id,
            add_bos,
        })
    }

    /// Encodes untrusted text: every id is an ordinary token, whatever the text contains.
    pub fn encode_text(&self, text: &str) -> Result<Vec<u32>, GenerateError> {
        self.encode_run(text, true)
    }

    /// Encodes a prompt made of template and untrusted pieces, with a leading BOS when the model
    /// wants one. Control tokens come only from the template pieces.
    ///
    /// Text runs are joined across segment boundaries before encoding, so splitting a prompt into
    /// segments tokenizes exactly like the whole string would (llama.cpp with special tokens on),
    /// except that control-token strings inside untrusted text stay text.
    pub fn encode_prompt(&self, segments: &[Segment<'_>]) -> Result<Vec<u32>, GenerateError> {
        let mut ids = Vec::new();
        if self.add_bos
            && let Some(bos) = self.bos_id
        {
            let starts_with_bos = match segments.first() {
                Some(Segment::Template(text)) => {
                    text.starts_with(self.tokens[bos as usize].as_str())
                }
                _ => false,
            };
            if !starts_with_bos {
                ids.push(bos);
            }
        }
        // A run of text always starts at the beginning or right after a control token: a fresh
        // SentencePiece "sentence" that gets its leading space (llama.cpp does the same).
        let mut run = String::new();
        for segment in segments {
            match *segment {
                Segment::Untrusted(text) => run.push_str(text),
                Segment::Template(text) => {
                    let mut rest = text;
                    while let Some((start, len, id)) = self.find_template_token(rest) {
                        run.push_str(&rest[..start]);
                        if !run.is_empty() {
                            ids.extend(self.encode_run(&run, true)?);
                            run.clear();
                        }
                        ids.push(id);
                        rest = &rest[start + len..];
                    }
                    run.push_str(rest);
                }
            }
        }
        if !run.is_empty() {
            ids.extend(self.encode_run(&run, true)?);
        }
        Ok(ids)
    }

    /// Leftmost, then longest, control or user-defined token string in `text`: (byte offset,
    /// byte length, id).
    fn find_template_token(&self, text: &str) -> Option<(usize, usize, u32)> {
        let mut best: Option<(usize, usize, u32)> = None;
        for (token, id) in &self.template_tokens {
            if let Some(start) = text.find(token.as_str()) {
                let better = match best {
                    None => true,
                    // Tokens are sorted longest first, so an equal start keeps the longer one.
                    Some((best_start, _, _)) => start < best_start,
                };
                if better {
                    best = Some((start, token.len(), *id));
                }
            }
        }
        best
    }

    /// Encodes ordinary text. `fresh` marks text at the start or right after a control token,
    /// where SentencePiece vocabularies put their leading space.
    fn encode_run(&self, text: &str, fresh: bool) -> Result<Vec<u32>, GenerateError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let encoding = match self.vocabulary {
            Vocabulary::ByteLevelBpe => self.inner.encode_fast(text, false),
            Vocabulary::SentencePiece { add_space_prefix } => {
                let mut escaped = String::with_capacity(text.len() + 3);
                if add_space_prefix && fresh {
                    escaped.push(SPM_SPACE);
                }
                escaped.extend(text.chars().map(|c| if c == ' ' { SPM_SPACE } else { c }));
                self.inner.encode_fast(escaped.as_str(), false)
            }
        }
        .map_err(|error| GenerateError::Tokenize {
            reason: error.to_string(),
        })?;
        let ids = encoding.get_ids().to_vec();
        // The inner tokenizer has no added tokens, but a vocabulary could still map a merge
        // result onto a control token's string; refuse rather than let text drive the model.
        if let Some(&id) = ids.iter().find(|&&id| self.is_control(id)) {
            return Err(GenerateError::Tokenize {
                reason: format!(
                    "text encoded to control token {id} ({:?})",
                    self.tokens[id as usize]
                ),
            });
        }
        Ok(ids)
    }

    /// Text of `ids`, control tokens left out.
    pub fn decode(&self, ids: &[u32]) -> Result<String, GenerateError> {
        let visible: Vec<u32> = ids
            .iter()
            .copied()
            .filter(|&id| !self.is_control(id))
            .collect();
        self.inner
            .decode(&visible, false)
            .map_err(|error| GenerateError::Tokenize {
                reason: error.to_string(),
            })
    }

    /// A streaming decoder for generated tokens.
    pub fn stream(&self) -> TokenStream<'_> {
        TokenStream {
            tokenizer: self,
            ids: Vec::new(),
            prefix_offset: 0,
            read_offset: 0,
        }
    }

    /// The strings of the control and user-defined tokens, longest first: what template text
    /// may name, and what an answer should never carry as text.
    pub fn special_token_strings(&self) -> impl Iterator<Item = &str> {
        self.template_tokens.iter().map(|(text, _)| text.as_str())
    }

    pub fn is_control(&self, id: u32) -> bool {
        self.is_control.get(id as usize).copied().unwrap_or(false)
    }

    pub fn is_stop(&self, id: u32) -> bool {
        self.stop_ids.binary_search(&id).is_ok()
    }

    /// End-of-turn and end-of-text tokens: generation stops at any of them.
    pub fn stop_ids(&self) -> &[u32] {
        &self.stop_ids
    }

    pub fn bos_id(&self) -> Option<u32> {
        self.bos_id
    }

    pub fn eos_id(&self) -> Option<u32> {
        self.eos_id
    }

    /// Whether prompts start with the BOS token.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// The BOS token's text, for chat templates (`{{ bos_token }}`); empty when there is none.
    pub fn bos_token(&self) -> &str {
        self.bos_id
            .map_or("", |id| self.tokens[id as usize].as_str())
    }

    /// The EOS token's text, for chat templates (`{{ eos_token }}`); empty when there is none.
    pub fn eos_token(&self) -> &str {
        self.eos_id
            .map_or("", |id| self.tokens[id as usize].as_str())
    }

    /// The vocabulary entry of `id` (byte-level or `▁` encoded, as stored in the model).
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.tokens.get(id as usize).map(String::as_str)
    }

    /// The id of a vocabulary entry, e.g. `<|im_start|>`.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.tokens
            .iter()
            .position(|t| t == text)
            .map(|id| id as u32)
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// Number of tokens untrusted `text` takes.
    pub fn count_tokens(&self, text: &str) -> Result<usize, GenerateError> {
        Ok(self.encode_text(text)?.len())
    }
}

/// Turns generated token ids into text as they come, emitting only complete UTF-8: a character
/// split over several byte tokens appears once its last byte has arrived.
pub struct TokenStream<'t> {
    tokenizer: &'t GgufTokenizer,
    ids: Vec<u32>,
    /// Decoding starts here, a few tokens back, so that context-dependent decoders (a
    /// SentencePiece leading space) see what they need.
    prefix_offset: usize,
    /// Everything before this has been emitted.
    read_offset: usize,
}

impl TokenStream<'_> {
    /// Adds a token; returns the new text it completes, if any. Control tokens add nothing.
    pub fn push(&mut self, id: u32) -> Result<Option<String>, GenerateError> {
        if self.tokenizer.is_control(id) {
            return Ok(None);
        }
        self.ids.push(id);
        let emitted = self
            .tokenizer
            .decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let all = self.tokenizer.decode(&self.ids[self.prefix_offset..])?;
        if all.len() > emitted.len()
            && !all.ends_with('\u{FFFD}')
            && all.is_char_boundary(emitted.len())
        {
            let new_text = all[emitted.len()..].to_string();
            self.prefix_offset = self.read_offset;
            self.read_offset = self.ids.len();
            Ok(Some(new_text))
        } else {
            Ok(None)
        }
    }

    /// Whatever is left undecoded at the end (an incomplete character becomes U+FFFD).
    pub fn finish(&mut self) -> Result<Option<String>, GenerateError> {
        if self.read_offset == self.ids.len() {
            return Ok(None);
        }
        let emitted = self
            .tokenizer
            .decode(&self.ids[self.prefix_offset..self.read_offset])?;
        let all = self.tokenizer.decode(&self.ids[self.prefix_offset..])?;
        self.prefix_offset = self.read_offset;
        self.read_offset = self.ids.len();
        if all.len() > emitted.len() && all.is_char_boundary(emitted.len()) {
            Ok(Some(all[emitted.len()..].to_string()))
        } else {
            Ok(None)
        }
    }
}

fn byte_level(add_prefix_space: bool, use_regex: bool) -> ByteLevel {
    ByteLevel::new(add_prefix_space, true, use_regex)
}

/// The pre-tokenizer llama.cpp uses for `tokenizer.ggml.pre`.
fn byte_level_pre_tokenizer(pre: &str) -> Result<PreTokenizerWrapper, String> {
    Ok(match pre {
        "smollm" => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(byte_level(false, true)),
        ])),
        "llama-bpe" | "llama3" | "llama-v3" => {
            let split = Split::new(
                SplitPattern::Regex(LLAMA3_SPLIT_REGEX.into()),
                SplitDelimiterBehavior::Isolated,
                false,
            )
            .map_err(|error| format!("cannot compile the llama3 pre-tokenizer: {error}"))?;
            PreTokenizerWrapper::Sequence(Sequence::new(vec![
                PreTokenizerWrapper::Split(split),
                PreTokenizerWrapper::ByteLevel(byte_level(false, false)),
            ]))
        }
        other => {
            tracing::debug!(
                pre = other,
                "unknown tokenizer.ggml.pre: using the GPT-2 byte-level split"
            );
            PreTokenizerWrapper::ByteLevel(byte_level(false, true))
        }
    })
}

fn build_byte_level_bpe(
    tokens: &[String],
    merges: &[String],
    pre: &str,
) -> Result<Tokenizer, String> {
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), id as u32))
        .collect();
    let mut pairs = Vec::with_capacity(merges.len());
    for merge in merges {
        let (left, right) = merge
            .split_once(' ')
            .ok_or_else(|| format!("merge {merge:?} has no space"))?;
        // tokenizers panics on a merge whose result is longer than every token, so every merge
        // is checked against the vocabulary first.
        let merged = format!("{left}{right}");
        if [left, right, merged.as_str()]
            .iter()
            .any(|piece| !vocab.contains_key(*piece))
        {
            return Err(format!(
                "merge {merge:?} uses or makes a token outside the vocabulary"
            ));
        }
        pairs.push((left.to_string(), right.to_string()));
    }
    let bpe = BPE::builder()
        .vocab_and_merges(vocab, pairs)
        .build()
        .map_err(|error| format!("cannot build the BPE model: {error}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    tokenizer.with_pre_tokenizer(Some(byte_level_pre_tokenizer(pre)?));
    tokenizer.with_decoder(Some(byte_level(false, true)));
    Ok(tokenizer)
}

/// A SentencePiece vocabulary as a BPE: merges are every split of a piece into two pieces of the
/// vocabulary, highest-scoring result first (Hugging Face's `SentencePieceExtractor`).
fn build_sentencepiece_bpe(
    tokens: &[String],
    scores: &[f32],
    token_types: &[i64],
    unknown: Option<u32>,
) -> Result<Tokenizer, String> {
    let mergeable = |id: usize| {
        !matches!(
            token_types[id],
            TOKEN_TYPE_CONTROL | TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_BYTE
        )
    };
    let mut ids_by_piece: HashMap<&str, usize> = HashMap::new();
    for (id, token) in tokens.iter().enumerate() {
        ids_by_piece.entry(token.as_str()).or_insert(id);
    }
    let mut merges: Vec<(usize, usize, f32)> = Vec::new();
    for (id, piece) in tokens.iter().enumerate() {
        if !mergeable(id) {
            continue;
        }
        let mut local = Vec::new();
        for (split, _) in piece.char_indices().skip(1) {
            let (left, right) = piece.split_at(split);
            if let (Some(&l), Some(&r)) = (ids_by_piece.get(left), ids_by_piece.get(right))
                && mergeable(l)
                && mergeable(r)
            {
                local.push((l, r, scores[id]));
            }
        }
        local.sort_by_key(|&(l, r, _)| (l, r));
        merges.extend(local);
    }
    // Stable: equal scores keep vocabulary order.
    merges.sort_by(|a, b| b.2.total_cmp(&a.2));
    let pairs = merges
        .into_iter()
        .map(|(l, r, _)| (tokens[l].clone(), tokens[r].clone()))
        .collect();
    let vocab: Vocab = tokens
        .iter()
        .enumerate()
        .map(|(id, token)| (token.clone(), id as u32))
        .collect();
    let mut builder = BPE::builder()
        .vocab_and_merges(vocab, pairs)
        .byte_fallback(true)
        .fuse_unk(true);
    if let Some(unknown) = unknown {
        builder = builder.unk_token(tokens[unknown as usize].clone());
    }
    let bpe = builder
        .build()
        .map_err(|error| format!("cannot build the SentencePiece model: {error}"))?;
    let mut tokenizer = Tokenizer::new(bpe);
    let to_space = Replace::new(SPM_SPACE.to_string(), " ")
        .map_err(|error| format!("cannot build the decoder: {error}"))?;
    tokenizer.with_decoder(Some(tokenizers::decoders::sequence::Sequence::new(vec![
        DecoderWrapper::Replace(to_space),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
        DecoderWrapper::Strip(Strip::new(' ', 1, 0)),
    ])));
    Ok(tokenizer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::testing::{Value, build};

    fn parse(bytes: Vec<u8>) -> GgufFile {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tok.gguf");
        std::fs::write(&path, bytes).unwrap();
        GgufFile::open(&path).unwrap()
    }

    /// A tiny SentencePiece vocabulary in the shape TinyLlama's has.
    fn sentencepiece() -> GgufTokenizer {
        let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
        let mut types = vec![2, 3, 3];
        let mut scores = vec![0.0, 0.0, 0.0];
        for byte in 0..=255u32 {
            tokens.push(format!("<0x{byte:02X}>"));
            types.push(6);
            scores.push(0.0);
        }
        for (piece, score) in [
            ("▁", -1.0),
            ("H", -2.0),
            ("e", -2.0),
            ("l", -2.0),
            ("o", -2.0),
            ("w", -2.0),
            ("r", -2.0),
            ("d", -2.0),
            ("He", -3.0),
            ("ll", -3.0),
            ("llo", -4.0),
            ("Hello", -5.0),
            ("▁Hello", -6.0),
            ("▁w", -7.0),
            ("or", -7.0),
            ("▁wor", -8.0),
            ("▁world", -9.0),
            ("ld", -8.5),
            ("▁H", -9.5),
        ] {
            tokens.push(piece.into());
            types.push(1);
            scores.push(score);
        }
        let file = parse(build(
            &[
                ("tokenizer.ggml.model", Value::Str("llama")),
                ("tokenizer.ggml.tokens", Value::Strings(tokens)),
                ("tokenizer.ggml.scores", Value::F32s(scores)),
                ("tokenizer.ggml.token_type", Value::I32s(types)),
                ("tokenizer.ggml.bos_token_id", Value::U32(1)),
                ("tokenizer.ggml.eos_token_id", Value::U32(2)),
                ("tokenizer.ggml.unknown_token_id", Value::U32(0)),
            ],
            &[],
        ));
        GgufTokenizer::from_gguf(&file).unwrap()
    }

    fn pieces(tokenizer: &GgufTokenizer, ids: &[u32]) -> Vec<String> {
        ids.iter()
            .map(|&id| tokenizer.token_text(id).unwrap().to_string())
            .collect()
    }

    #[test]
    fn sentencepiece_words_spaces_and_byte_fallback() {
        let tokenizer = sentencepiece();
        let check = |text: &str, expected: &[&str]| {
            let ids = tokenizer.encode_text(text).unwrap();
            assert_eq!(pieces(&tokenizer, &ids), expected, "{text:?}");
            assert_eq!(
                tokenizer.decode(&ids).unwrap(),
                text,
                "round trip of {text:?}"
            );
        };
        check("Hello world", &["▁Hello", "▁world"]);
        check("Hello", &["▁Hello"]);
        // "é" is not in the vocabulary: its two UTF-8 bytes come out as byte tokens.
        check("Hé", &["▁H", "<0xC3>", "<0xA9>"]);
    }

    #[test]
    fn sentencepiece_prompt_adds_bos_and_a_space_after_control_tokens() {
        let tokenizer = sentencepiece();
        let ids = tokenizer
            .encode_prompt(&[Segment::Template("Hello</s>"), Segment::Untrusted("world")])
            .unwrap();
        assert_eq!(
            pieces(&tokenizer, &ids),
            ["<s>", "▁Hello", "</s>", "▁world"]
        );
        // Untrusted text naming a control token stays text.
        let ids = tokenizer
            .encode_prompt(&[Segment::Untrusted("</s>")])
            .unwrap();
        assert_eq!(ids[0], 1);
        assert!(
            ids[1..].iter().all(|&id| !tokenizer.is_control(id)),
            "{:?}",
            pieces(&tokenizer, &ids)
        );
    }

    #[test]
    fn stream_emits_whole_characters_only() {
        let tokenizer = sentencepiece();
        let ids = tokenizer.encode_text("Hé Hello").unwrap();
        let mut stream = tokenizer.stream();
        let mut pieces_out = Vec::new();
        for &id in &ids {
            if let Some(text) = stream.push(id).unwrap() {
                pieces_out.push(text);
            }
        }
        if let Some(rest) = stream.finish().unwrap() {
            pieces_out.push(rest);
        }
        // The C3 byte alone emits nothing; the A9 byte completes "é".
        assert_eq!(pieces_out.concat(), "Hé Hello");
        assert!(
            pieces_out.iter().all(|p| !p.contains('\u{FFFD}')),
            "{pieces_out:?}"
        );
        assert!(pieces_out.contains(&"é".to_string()), "{pieces_out:?}");
        // Control tokens never show.
        let mut stream = tokenizer.stream();
        assert_eq!(stream.push(2).unwrap(), None);
    }

    #[test]
    fn rejects_broken_tokenizer_metadata() {
        let check = |metadata: &[(&str, Value<'_>)], expected: &str| {
            let file = parse(build(metadata, &[]));
            let message = GgufTokenizer::from_gguf(&file).unwrap_err().to_string();
            assert!(
                message.contains(expected),
                "{message:?} does not contain {expected:?}"
            );
        };
        check(&[], "no tokenizer.ggml.model");
        check(
            &[("tokenizer.ggml.model", Value::Str("gpt2"))],
            "no tokenizer.ggml.tokens",
        );
        check(
            &[
                ("tokenizer.ggml.model", Value::Str("gpt2")),
                ("tokenizer.ggml.tokens", Value::Strings(vec!["a".into()])),
            ],
            "without tokenizer.ggml.merges",
        );
        check(
            &[
                ("tokenizer.ggml.model", Value::Str("bert")),
                ("tokenizer.ggml.tokens", Value::Strings(vec!["a".into()])),
            ],
            "unsupported tokenizer model",
        );
        for merge in ["a b", "a c", "ab"] {
            check(
                &[
                    ("tokenizer.ggml.model", Value::Str("gpt2")),
                    (
                        "tokenizer.ggml.tokens",
                        Value::Strings(vec!["a".into(), "b".into()]),
                    ),
                    ("tokenizer.ggml.merges", Value::Strings(vec![merge.into()])),
                ],
                "merge",
            );
        }
        check(
            &[
                ("tokenizer.ggml.model", Value::Str("llama")),
                ("tokenizer.ggml.tokens", Value::Strings(vec!["a".into()])),
                ("tokenizer.ggml.bos_token_id", Value::U32(7)),
            ],
            "bos_token_id 7 is not a token id",
        );
        check(
            &[
                ("tokenizer.ggml.model", Value::Str("llama")),
                ("tokenizer.ggml.tokens", Value::Strings(vec!["a".into()])),
                ("tokenizer.ggml.token_type", Value::I32s(vec![1, 1])),
            ],
            "2 token types for 1 tokens",
        );
    }
}
