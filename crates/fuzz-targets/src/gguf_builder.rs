//! GGUF files built in memory: the GGUF and tokenizer seeds, and the structured inputs of the
//! tokenizer driver (a random vocabulary is far more likely to build a tokenizer than random
//! bytes are).

/// A metadata value to write.
#[derive(Debug, Clone)]
pub enum Value {
    U32(u32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(String),
    Strings(Vec<String>),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
}

/// A tensor to write: its directory entry and raw bytes.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub type_id: u32,
    pub data: Vec<u8>,
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_array_header(out: &mut Vec<u8>, element_type: u32, len: usize) {
    out.extend_from_slice(&9u32.to_le_bytes());
    out.extend_from_slice(&element_type.to_le_bytes());
    out.extend_from_slice(&(len as u64).to_le_bytes());
}

/// A complete version-3 GGUF file with the default 32-byte alignment.
pub fn build(metadata: &[(&str, Value)], tensors: &[Tensor]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"GGUF");
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&(metadata.len() as u64).to_le_bytes());
    for (key, value) in metadata {
        put_string(&mut out, key);
        match value {
            Value::U32(v) => {
                out.extend_from_slice(&4u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::U64(v) => {
                out.extend_from_slice(&10u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::F32(v) => {
                out.extend_from_slice(&6u32.to_le_bytes());
                out.extend_from_slice(&v.to_le_bytes());
            }
            Value::Bool(v) => {
                out.extend_from_slice(&7u32.to_le_bytes());
                out.push(*v as u8);
            }
            Value::Str(s) => {
                out.extend_from_slice(&8u32.to_le_bytes());
                put_string(&mut out, s);
            }
            Value::Strings(items) => {
                put_array_header(&mut out, 8, items.len());
                for item in items {
                    put_string(&mut out, item);
                }
            }
            Value::I32s(items) => {
                put_array_header(&mut out, 5, items.len());
                for item in items {
                    out.extend_from_slice(&item.to_le_bytes());
                }
            }
            Value::F32s(items) => {
                put_array_header(&mut out, 6, items.len());
                for item in items {
                    out.extend_from_slice(&item.to_le_bytes());
                }
            }
        }
    }
    let mut offset = 0u64;
    let mut offsets = Vec::new();
    for tensor in tensors {
        offsets.push(offset);
        offset += (tensor.data.len() as u64).div_ceil(32) * 32;
    }
    for (tensor, offset) in tensors.iter().zip(&offsets) {
        put_string(&mut out, &tensor.name);
        out.extend_from_slice(&(tensor.dims.len() as u32).to_le_bytes());
        for dim in &tensor.dims {
            out.extend_from_slice(&dim.to_le_bytes());
        }
        out.extend_from_slice(&tensor.type_id.to_le_bytes());
        out.extend_from_slice(&offset.to_le_bytes());
    }
    for tensor in tensors {
        while !out.len().is_multiple_of(32) {
            out.push(0);
        }
        out.extend_from_slice(&tensor.data);
    }
    out
}

/// A vocabulary for a tokenizer seed or a structured tokenizer input.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// `gpt2` (byte-level BPE) or `llama` (SentencePiece), or anything else to test refusal.
    pub model: String,
    pub tokens: Vec<String>,
    /// llama.cpp token types (1 normal, 2 unknown, 3 control, 4 user-defined, 6 byte).
    pub token_types: Vec<i32>,
    /// `gpt2` only: `"left right"` pairs.
    pub merges: Vec<String>,
    /// `llama` only.
    pub scores: Vec<f32>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub pre: Option<String>,
}

/// A GGUF file holding only `vocabulary`'s tokenizer metadata.
pub fn tokenizer_file(vocabulary: &Vocabulary) -> Vec<u8> {
    let mut metadata = vec![
        ("general.architecture", Value::Str("llama".into())),
        ("tokenizer.ggml.model", Value::Str(vocabulary.model.clone())),
        (
            "tokenizer.ggml.tokens",
            Value::Strings(vocabulary.tokens.clone()),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::I32s(vocabulary.token_types.clone()),
        ),
    ];
    if vocabulary.model == "gpt2" {
        metadata.push((
            "tokenizer.ggml.merges",
            Value::Strings(vocabulary.merges.clone()),
        ));
    } else {
        metadata.push((
            "tokenizer.ggml.scores",
            Value::F32s(vocabulary.scores.clone()),
        ));
    }
    if let Some(pre) = &vocabulary.pre {
        metadata.push(("tokenizer.ggml.pre", Value::Str(pre.clone())));
    }
    if let Some(id) = vocabulary.bos_id {
        metadata.push(("tokenizer.ggml.bos_token_id", Value::U32(id)));
    }
    if let Some(id) = vocabulary.eos_id {
        metadata.push(("tokenizer.ggml.eos_token_id", Value::U32(id)));
    }
    build(&metadata, &[])
}
