//! A bounds-checked GGUF reader: header, metadata and tensor directory, checked against the file
//! size before anything else (candle included) trusts a single number in it.
//!
//! A GGUF file is untrusted input. Every count and length read from it is checked against the
//! bytes that are left before it is used, nothing is allocated from a count alone (vectors grow
//! as entries are actually read), strings and arrays have caps, and every tensor must lie inside
//! the file. Tensor data is not read here: [`GgufFile::read_tensor_bytes`] reads one tensor's
//! bytes when a loader asks for it.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::GenerateError;

/// `GGUF` read as a little-endian u32.
const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// No real metadata string comes near this (chat templates are a few KiB, the longest token a
/// few hundred bytes); a larger one is an attack or a broken file.
const MAX_STRING_BYTES: u64 = 64 << 20;
/// Vocabularies reach about 260k entries; sixteen million leaves room for any real array.
const MAX_ARRAY_LEN: u64 = 16 << 20;
/// Arrays of arrays exist in the spec but no llama-family model uses them deeply.
const MAX_ARRAY_DEPTH: u32 = 2;
/// What the parsed metadata may occupy in memory, whatever the file claims.
const MAX_METADATA_MEMORY: u64 = 512 << 20;
/// ggml's own limit on tensor rank.
const MAX_TENSOR_DIMS: u32 = 4;
/// Smallest possible metadata entry: key length (8) + empty key + value type (4) + a 1-byte value.
const MIN_METADATA_ENTRY_BYTES: u64 = 13;
/// Smallest possible tensor entry: name length (8) + rank (4) + one dim (8) + type (4) + offset (8).
const MIN_TENSOR_ENTRY_BYTES: u64 = 32;
/// Magic, version, tensor count, metadata count.
const HEADER_BYTES: u64 = 24;
const DEFAULT_ALIGNMENT: u64 = 32;

/// The tensor element types of ggml, with their block geometry (elements per block, bytes per
/// block). Only some of them can be run (see the loaders); all of them can be validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

impl GgmlType {
    /// The type for ggml's numeric id, if it is one ggml defines.
    pub fn from_id(id: u32) -> Option<Self> {
        use GgmlType::*;
        Some(match id {
            0 => F32,
            1 => F16,
            2 => Q4_0,
            3 => Q4_1,
            6 => Q5_0,
            7 => Q5_1,
            8 => Q8_0,
            9 => Q8_1,
            10 => Q2_K,
            11 => Q3_K,
            12 => Q4_K,
            13 => Q5_K,
            14 => Q6_K,
            15 => Q8_K,
            16 => IQ2_XXS,
            17 => IQ2_XS,
            18 => IQ3_XXS,
            19 => IQ1_S,
            20 => IQ4_NL,
            21 => IQ3_S,
            22 => IQ2_S,
            23 => IQ4_XS,
            24 => I8,
            25 => I16,
            26 => I32,
            27 => I64,
            28 => F64,
            29 => IQ1_M,
            30 => BF16,
            34 => TQ1_0,
            35 => TQ2_0,
            39 => MXFP4,
            _ => return None,
        })
    }

    /// (elements per block, bytes per block).
    pub fn block_geometry(self) -> (u64, u64) {
        use GgmlType::*;
        match self {
            F32 | I32 => (1, 4),
            F16 | BF16 | I16 => (1, 2),
            I8 => (1, 1),
            I64 | F64 => (1, 8),
            Q4_0 | IQ4_NL => (32, 18),
            Q4_1 => (32, 20),
            Q5_0 => (32, 22),
            Q5_1 => (32, 24),
            Q8_0 => (32, 34),
            Q8_1 => (32, 36),
            MXFP4 => (32, 17),
            Q2_K => (256, 84),
            Q3_K => (256, 110),
            Q4_K => (256, 144),
            Q5_K => (256, 176),
            Q6_K => (256, 210),
            Q8_K => (256, 292),
            IQ2_XXS => (256, 66),
            IQ2_XS => (256, 74),
            IQ3_XXS => (256, 98),
            IQ1_S => (256, 50),
            IQ3_S => (256, 110),
            IQ2_S => (256, 82),
            IQ4_XS => (256, 136),
            IQ1_M => (256, 56),
            TQ1_0 => (256, 54),
            TQ2_0 => (256, 66),
        }
    }

    /// The name llama.cpp prints, e.g. `Q4_1`.
    pub fn name(self) -> &'static str {
        use GgmlType::*;
        match self {
            F32 => "F32",
            F16 => "F16",
            Q4_0 => "Q4_0",
            Q4_1 => "Q4_1",
            Q5_0 => "Q5_0",
            Q5_1 => "Q5_1",
            Q8_0 => "Q8_0",
            Q8_1 => "Q8_1",
            Q2_K => "Q2_K",
            Q3_K => "Q3_K",
            Q4_K => "Q4_K",
            Q5_K => "Q5_K",
            Q6_K => "Q6_K",
            Q8_K => "Q8_K",
            IQ2_XXS => "IQ2_XXS",
            IQ2_XS => "IQ2_XS",
            IQ3_XXS => "IQ3_XXS",
            IQ1_S => "IQ1_S",
            IQ4_NL => "IQ4_NL",
            IQ3_S => "IQ3_S",
            IQ2_S => "IQ2_S",
            IQ4_XS => "IQ4_XS",
            I8 => "I8",
            I16 => "I16",
            I32 => "I32",
            I64 => "I64",
            F64 => "F64",
            IQ1_M => "IQ1_M",
            BF16 => "BF16",
            TQ1_0 => "TQ1_0",
            TQ2_0 => "TQ2_0",
            MXFP4 => "MXFP4",
        }
    }

    /// The matching candle type, for the types candle can load.
    pub(crate) fn to_candle(self) -> Option<candle_core::quantized::GgmlDType> {
        use GgmlType::*;
        use candle_core::quantized::GgmlDType as C;
        Some(match self {
            F32 => C::F32,
            F16 => C::F16,
            BF16 => C::BF16,
            Q4_0 => C::Q4_0,
            Q4_1 => C::Q4_1,
            Q5_0 => C::Q5_0,
            Q5_1 => C::Q5_1,
            Q8_0 => C::Q8_0,
            Q8_1 => C::Q8_1,
            Q2_K => C::Q2K,
            Q3_K => C::Q3K,
            Q4_K => C::Q4K,
            Q5_K => C::Q5K,
            Q6_K => C::Q6K,
            Q8_K => C::Q8K,
            _ => return None,
        })
    }
}

/// One metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    U64(u64),
    I64(i64),
    F64(f64),
    Array(MetaArray),
}

/// A metadata array, stored by element type so that a large array costs what its elements do.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaArray {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(Vec<String>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
    Array(Vec<MetaArray>),
}

impl MetaArray {
    pub fn len(&self) -> usize {
        match self {
            MetaArray::U8(v) => v.len(),
            MetaArray::I8(v) => v.len(),
            MetaArray::U16(v) => v.len(),
            MetaArray::I16(v) => v.len(),
            MetaArray::U32(v) => v.len(),
            MetaArray::I32(v) => v.len(),
            MetaArray::F32(v) => v.len(),
            MetaArray::Bool(v) => v.len(),
            MetaArray::String(v) => v.len(),
            MetaArray::U64(v) => v.len(),
            MetaArray::I64(v) => v.len(),
            MetaArray::F64(v) => v.len(),
            MetaArray::Array(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Integer elements widened to i64 (token types are i32 in practice, but the spec allows any).
    pub fn to_i64_vec(&self) -> Option<Vec<i64>> {
        Some(match self {
            MetaArray::U8(v) => v.iter().map(|&x| x as i64).collect(),
            MetaArray::I8(v) => v.iter().map(|&x| x as i64).collect(),
            MetaArray::U16(v) => v.iter().map(|&x| x as i64).collect(),
            MetaArray::I16(v) => v.iter().map(|&x| x as i64).collect(),
            MetaArray::U32(v) => v.iter().map(|&x| x as i64).collect(),
            MetaArray::I32(v) => v.iter().map(|&x| x as i64).collect(),
            MetaArray::I64(v) => v.clone(),
            MetaArray::U64(v) => v.iter().map(|&x| x as i64).collect(),
            _ => return None,
        })
    }

    /// Float elements widened to f32 (token scores).
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        Some(match self {
            MetaArray::F32(v) => v.clone(),
            MetaArray::F64(v) => v.iter().map(|&x| x as f32).collect(),
            _ => return None,
        })
    }
}

impl MetaValue {
    /// Any non-negative integer value as u64 (GGUF writers disagree on u32 vs u64 for counts).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            MetaValue::U8(v) => Some(v as u64),
            MetaValue::U16(v) => Some(v as u64),
            MetaValue::U32(v) => Some(v as u64),
            MetaValue::U64(v) => Some(v),
            MetaValue::I8(v) => u64::try_from(v).ok(),
            MetaValue::I16(v) => u64::try_from(v).ok(),
            MetaValue::I32(v) => u64::try_from(v).ok(),
            MetaValue::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            MetaValue::F32(v) => Some(v as f64),
            MetaValue::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(v) => Some(v),
            _ => self.as_u64().map(|v| v != 0),
        }
    }

    pub fn as_array(&self) -> Option<&MetaArray> {
        match self {
            MetaValue::Array(a) => Some(a),
            _ => None,
        }
    }
}

/// One entry of the tensor directory, already checked to lie inside the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length (the contiguous dimension).
    pub dims: Vec<u64>,
    pub ggml_type: GgmlType,
    /// Absolute byte offset of the tensor's data in the file.
    pub offset: u64,
    pub n_bytes: u64,
    pub n_elements: u64,
}

impl TensorInfo {
    /// Rows and row length of a matrix (a vector is one row).
    pub fn rows_and_cols(&self) -> (usize, usize) {
        let cols = self.dims[0] as usize;
        let rows = self.dims[1..].iter().product::<u64>() as usize;
        (rows, cols)
    }
}

/// A parsed and validated GGUF header: metadata and tensor directory, no tensor data.
#[derive(Debug, Clone)]
pub struct GgufFile {
    pub path: PathBuf,
    pub version: u32,
    pub file_bytes: u64,
    pub alignment: u64,
    /// Absolute offset where tensor data starts.
    pub data_start: u64,
    pub metadata: BTreeMap<String, MetaValue>,
    pub tensors: Vec<TensorInfo>,
}

/// What Docent shows about a model file and decides from before loading it.
#[derive(Debug, Clone, PartialEq)]
pub struct GgufSummary {
    pub path: PathBuf,
    pub gguf_version: u32,
    /// `general.architecture`, e.g. `llama`.
    pub architecture: String,
    /// `general.name`, when the file has one.
    pub name: Option<String>,
    /// Training context in tokens (`{arch}.context_length`).
    pub context_length: Option<u64>,
    pub embedding_length: Option<u64>,
    pub feed_forward_length: Option<u64>,
    pub block_count: Option<u64>,
    pub head_count: Option<u64>,
    pub head_count_kv: Option<u64>,
    /// Entries in `tokenizer.ggml.tokens` (0 when the file has no tokenizer).
    pub vocab_size: usize,
    /// `general.file_type` as written by the converter (a llama_ftype number).
    pub file_type: Option<u64>,
    /// The tensor type holding most of the weight bytes, e.g. `Q4_1`.
    pub quantization: String,
    pub file_bytes: u64,
    pub n_tensors: usize,
    /// Sum of all tensor elements.
    pub n_params: u64,
    /// `tokenizer.chat_template`, when present.
    pub chat_template: Option<String>,
    /// `tokenizer.ggml.model`, e.g. `gpt2` (byte-level BPE) or `llama` (SentencePiece).
    pub tokenizer_model: Option<String>,
    /// `tokenizer.ggml.pre`, e.g. `smollm`.
    pub tokenizer_pre: Option<String>,
    /// Whether tokens (and, for BPE, merges) are present, i.e. the file can tokenize by itself.
    pub has_tokenizer: bool,
}

/// Reads, checks and summarises a GGUF file's header without loading any weights.
pub fn inspect(path: &Path) -> Result<GgufSummary, GenerateError> {
    Ok(GgufFile::open(path)?.summary())
}

impl GgufFile {
    /// Parses and validates the header, metadata and tensor directory of `path`.
    pub fn open(path: &Path) -> Result<Self, GenerateError> {
        let file = File::open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                GenerateError::MissingModelFile {
                    path: path.to_path_buf(),
                }
            } else {
                GenerateError::WithPath {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let file_bytes = file
            .metadata()
            .map_err(|source| GenerateError::WithPath {
                path: path.to_path_buf(),
                source,
            })?
            .len();
        let reader = BoundedReader::new(BufReader::with_capacity(1 << 16, file), file_bytes, path);
        parse(reader)
    }

    /// Parses and validates a GGUF file already in memory (fuzzing and tests); `path` only
    /// names it in errors and in [`GgufFile::path`].
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, GenerateError> {
        parse(BoundedReader::new(bytes, bytes.len() as u64, path))
    }

    pub fn get(&self, key: &str) -> Option<&MetaValue> {
        self.metadata.get(key)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(MetaValue::as_str)
    }

    pub fn get_u64(&self, key: &str) -> Option<u64> {
        self.get(key).and_then(MetaValue::as_u64)
    }

    pub fn get_f64(&self, key: &str) -> Option<f64> {
        self.get(key).and_then(MetaValue::as_f64)
    }

    pub fn get_array(&self, key: &str) -> Option<&MetaArray> {
        self.get(key).and_then(MetaValue::as_array)
    }

    pub fn architecture(&self) -> &str {
        self.get_str("general.architecture").unwrap_or("")
    }

    /// `{architecture}.{suffix}`, e.g. `llama.context_length`.
    pub fn arch_u64(&self, suffix: &str) -> Option<u64> {
        self.get_u64(&format!("{}.{suffix}", self.architecture()))
    }

    pub fn arch_f64(&self, suffix: &str) -> Option<f64> {
        self.get_f64(&format!("{}.{suffix}", self.architecture()))
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Reads one tensor's raw bytes (already checked to lie inside the file).
    pub fn read_tensor_bytes(
        &self,
        file: &mut File,
        info: &TensorInfo,
    ) -> Result<Vec<u8>, GenerateError> {
        let io_error = |source| GenerateError::WithPath {
            path: self.path.clone(),
            source,
        };
        file.seek(SeekFrom::Start(info.offset)).map_err(io_error)?;
        let mut bytes = vec![0u8; info.n_bytes as usize];
        file.read_exact(&mut bytes).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                // The file shrank after it was checked.
                GenerateError::TensorPastEnd {
                    path: self.path.clone(),
                    tensor: info.name.clone(),
                }
            } else {
                io_error(source)
            }
        })?;
        Ok(bytes)
    }

    pub fn summary(&self) -> GgufSummary {
        let mut bytes_by_type: BTreeMap<GgmlType, u64> = BTreeMap::new();
        for tensor in &self.tensors {
            *bytes_by_type.entry(tensor.ggml_type).or_default() += tensor.n_bytes;
        }
        let quantization = bytes_by_type
            .iter()
            .max_by_key(|(_, bytes)| **bytes)
            .map(|(ggml_type, _)| ggml_type.name().to_string())
            .unwrap_or_else(|| "none".to_string());
        let vocab_size = self
            .get_array("tokenizer.ggml.tokens")
            .map_or(0, MetaArray::len);
        let tokenizer_model = self.get_str("tokenizer.ggml.model").map(str::to_string);
        let has_merges = self
            .get_array("tokenizer.ggml.merges")
            .is_some_and(|m| !m.is_empty());
        let has_tokenizer = vocab_size > 0
            && match tokenizer_model.as_deref() {
                Some("gpt2") => has_merges,
                Some("llama") => true,
                _ => false,
            };
        GgufSummary {
            path: self.path.clone(),
            gguf_version: self.version,
            architecture: self.architecture().to_string(),
            name: self.get_str("general.name").map(str::to_string),
            context_length: self.arch_u64("context_length"),
            embedding_length: self.arch_u64("embedding_length"),
            feed_forward_length: self.arch_u64("feed_forward_length"),
            block_count: self.arch_u64("block_count"),
            head_count: self.arch_u64("attention.head_count"),
            head_count_kv: self
                .arch_u64("attention.head_count_kv")
                .or(self.arch_u64("attention.head_count")),
            vocab_size,
            file_type: self.get_u64("general.file_type"),
            quantization,
            file_bytes: self.file_bytes,
            n_tensors: self.tensors.len(),
            n_params: self.tensors.iter().map(|t| t.n_elements).sum(),
            chat_template: self.get_str("tokenizer.chat_template").map(str::to_string),
            tokenizer_model,
            tokenizer_pre: self.get_str("tokenizer.ggml.pre").map(str::to_string),
            has_tokenizer,
        }
    }
}

/// A reader that knows how many bytes the file has left and refuses to read past them.
struct BoundedReader<'p, R> {
    inner: R,
    position: u64,
    file_bytes: u64,
    path: &'p Path,
    /// Estimated memory taken by the parsed metadata so far.
    metadata_memory: u64,
}

impl<'p, R: Read> BoundedReader<'p, R> {
    fn new(inner: R, file_bytes: u64, path: &'p Path) -> Self {
        Self {
            inner,
            position: 0,
            file_bytes,
            path,
            metadata_memory: 0,
        }
    }

    fn remaining(&self) -> u64 {
        self.file_bytes.saturating_sub(self.position)
    }

    fn truncated(&self, what: impl Into<String>) -> GenerateError {
        GenerateError::TruncatedGguf {
            path: self.path.to_path_buf(),
            what: what.into(),
        }
    }

    fn bad(&self, reason: impl Into<String>) -> GenerateError {
        GenerateError::BadGguf {
            path: self.path.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn read_exact_into(
        &mut self,
        buf: &mut [u8],
        what: &dyn Fn() -> String,
    ) -> Result<(), GenerateError> {
        if (buf.len() as u64) > self.remaining() {
            return Err(self.truncated(what()));
        }
        self.inner.read_exact(buf).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                self.truncated(what())
            } else {
                GenerateError::WithPath {
                    path: self.path.to_path_buf(),
                    source,
                }
            }
        })?;
        self.position += buf.len() as u64;
        Ok(())
    }

    fn read_array<const N: usize>(
        &mut self,
        what: &dyn Fn() -> String,
    ) -> Result<[u8; N], GenerateError> {
        let mut buf = [0u8; N];
        self.read_exact_into(&mut buf, what)?;
        Ok(buf)
    }

    fn read_u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GenerateError> {
        Ok(u32::from_le_bytes(self.read_array(what)?))
    }

    fn read_u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GenerateError> {
        Ok(u64::from_le_bytes(self.read_array(what)?))
    }

    fn charge_memory(&mut self, bytes: u64) -> Result<(), GenerateError> {
        self.metadata_memory = self.metadata_memory.saturating_add(bytes);
        if self.metadata_memory > MAX_METADATA_MEMORY {
            return Err(self.bad(format!(
                "metadata would take more than {} MiB of memory",
                MAX_METADATA_MEMORY >> 20
            )));
        }
        Ok(())
    }

    fn read_string(&mut self, what: &dyn Fn() -> String) -> Result<String, GenerateError> {
        let len = self.read_u64(&|| format!("the length of {}", what()))?;
        if len > MAX_STRING_BYTES {
            return Err(self.bad(format!("{} claims a string of {len} bytes", what())));
        }
        if len > self.remaining() {
            return Err(self.truncated(format!(
                "{} (a string of {len} bytes with {} left)",
                what(),
                self.remaining()
            )));
        }
        self.charge_memory(len + std::mem::size_of::<String>() as u64)?;
        // `len` is bounded by the bytes left in the file and by the cap above.
        let mut bytes = vec![0u8; len as usize];
        self.read_exact_into(&mut bytes, what)?;
        Ok(match String::from_utf8(bytes) {
            Ok(s) => s,
            // Tokens of some SentencePiece vocabularies hold partial UTF-8; keep going with a
            // replacement character rather than refusing the model.
            Err(error) => String::from_utf8_lossy(error.as_bytes()).into_owned(),
        })
    }

    fn read_value(
        &mut self,
        value_type: u32,
        depth: u32,
        what: &dyn Fn() -> String,
    ) -> Result<MetaValue, GenerateError> {
        Ok(match value_type {
            0 => MetaValue::U8(self.read_array::<1>(what)?[0]),
            1 => MetaValue::I8(self.read_array::<1>(what)?[0] as i8),
            2 => MetaValue::U16(u16::from_le_bytes(self.read_array(what)?)),
            3 => MetaValue::I16(i16::from_le_bytes(self.read_array(what)?)),
            4 => MetaValue::U32(u32::from_le_bytes(self.read_array(what)?)),
            5 => MetaValue::I32(i32::from_le_bytes(self.read_array(what)?)),
            6 => MetaValue::F32(f32::from_le_bytes(self.read_array(what)?)),
            7 => {
                let byte = self.read_array::<1>(what)?[0];
                if byte > 1 {
                    return Err(self.bad(format!("{} is a boolean with value {byte}", what())));
                }
                MetaValue::Bool(byte == 1)
            }
            8 => MetaValue::String(self.read_string(what)?),
            9 => MetaValue::Array(self.read_meta_array(depth, what)?),
            10 => MetaValue::U64(u64::from_le_bytes(self.read_array(what)?)),
            11 => MetaValue::I64(i64::from_le_bytes(self.read_array(what)?)),
            12 => MetaValue::F64(f64::from_le_bytes(self.read_array(what)?)),
            other => return Err(self.bad(format!("{} has unknown value type {other}", what()))),
        })
    }

    fn read_meta_array(
        &mut self,
        depth: u32,
        what: &dyn Fn() -> String,
    ) -> Result<MetaArray, GenerateError> {
        if depth >= MAX_ARRAY_DEPTH {
            return Err(self.bad(format!(
                "{} nests arrays deeper than {MAX_ARRAY_DEPTH}",
                what()
            )));
        }
        let element_type = self.read_u32(&|| format!("the element type of {}", what()))?;
        let len = self.read_u64(&|| format!("the length of {}", what()))?;
        let min_element_bytes: u64 = match element_type {
            0 | 1 | 7 => 1,
            2 | 3 => 2,
            4..=6 => 4,
            10..=12 => 8,
            8 => 8,
            9 => 12,
            other => return Err(self.bad(format!("{} has unknown element type {other}", what()))),
        };
        if len > MAX_ARRAY_LEN {
            return Err(self.bad(format!("{} claims an array of {len} elements", what())));
        }
        if len.saturating_mul(min_element_bytes) > self.remaining() {
            return Err(self.truncated(format!(
                "{} (an array of {len} elements with {} bytes left)",
                what(),
                self.remaining()
            )));
        }
        let element_memory = match element_type {
            8 => std::mem::size_of::<String>() as u64,
            9 => std::mem::size_of::<MetaArray>() as u64,
            _ => min_element_bytes,
        };
        self.charge_memory(len.saturating_mul(element_memory))?;
        let len = len as usize;
        // Vectors grow as elements are read; the capacity hint is capped so that a count alone
        // never decides an allocation.
        let hint = len.min(1 << 16);
        macro_rules! read_numbers {
            ($variant:ident, $ty:ty) => {{
                let mut values: Vec<$ty> = Vec::with_capacity(hint);
                for index in 0..len {
                    let bytes = self.read_array(&|| format!("element {index} of {}", what()))?;
                    values.push(<$ty>::from_le_bytes(bytes));
                }
                MetaArray::$variant(values)
            }};
        }
        Ok(match element_type {
            0 => read_numbers!(U8, u8),
            1 => read_numbers!(I8, i8),
            2 => read_numbers!(U16, u16),
            3 => read_numbers!(I16, i16),
            4 => read_numbers!(U32, u32),
            5 => read_numbers!(I32, i32),
            6 => read_numbers!(F32, f32),
            10 => read_numbers!(U64, u64),
            11 => read_numbers!(I64, i64),
            12 => read_numbers!(F64, f64),
            7 => {
                let mut values = Vec::with_capacity(hint);
                for index in 0..len {
                    match self.read_value(7, depth, &|| format!("element {index} of {}", what()))? {
                        MetaValue::Bool(b) => values.push(b),
                        _ => unreachable!("read_value(7) returns a Bool"),
                    }
                }
                MetaArray::Bool(values)
            }
            8 => {
                let mut values = Vec::with_capacity(hint);
                for index in 0..len {
                    values.push(self.read_string(&|| format!("element {index} of {}", what()))?);
                }
                MetaArray::String(values)
            }
            _ => {
                let mut values = Vec::with_capacity(hint.min(64));
                for index in 0..len {
                    values.push(self.read_meta_array(depth + 1, &|| {
                        format!("element {index} of {}", what())
                    })?);
                }
                MetaArray::Array(values)
            }
        })
    }
}

fn parse<R: Read>(mut reader: BoundedReader<'_, R>) -> Result<GgufFile, GenerateError> {
    let path = reader.path.to_path_buf();
    let file_bytes = reader.file_bytes;
    if file_bytes < 4 {
        return Err(
            if file_bytes == 0 || !GGUF_MAGIC.starts_with(&read_prefix(&mut reader)?) {
                GenerateError::NotGguf { path }
            } else {
                reader.truncated("the header")
            },
        );
    }
    let magic: [u8; 4] = reader.read_array(&|| "the magic number".into())?;
    if magic != GGUF_MAGIC {
        return Err(GenerateError::NotGguf { path });
    }
    let version = reader.read_u32(&|| "the header".into())?;
    if version != 2 && version != 3 {
        return Err(GenerateError::UnsupportedGgufVersion { path, version });
    }
    let n_tensors = reader.read_u64(&|| "the header".into())?;
    let n_metadata = reader.read_u64(&|| "the header".into())?;
    let body = file_bytes.saturating_sub(HEADER_BYTES);
    if n_metadata
        .checked_mul(MIN_METADATA_ENTRY_BYTES)
        .is_none_or(|bytes| bytes > body)
    {
        return Err(GenerateError::ImplausibleGgufCount {
            path,
            what: "metadata",
            count: n_metadata,
            file_bytes,
        });
    }
    if n_tensors
        .checked_mul(MIN_TENSOR_ENTRY_BYTES)
        .is_none_or(|bytes| bytes > body)
    {
        return Err(GenerateError::ImplausibleGgufCount {
            path,
            what: "tensor directory",
            count: n_tensors,
            file_bytes,
        });
    }
    if n_metadata
        .saturating_mul(MIN_METADATA_ENTRY_BYTES)
        .saturating_add(n_tensors.saturating_mul(MIN_TENSOR_ENTRY_BYTES))
        > body
    {
        return Err(GenerateError::ImplausibleGgufCount {
            path,
            what: "metadata and tensor directory",
            count: n_metadata + n_tensors,
            file_bytes,
        });
    }

    let mut metadata = BTreeMap::new();
    for entry_idx in 0..n_metadata {
        let key = reader.read_string(&|| format!("the key of metadata entry {entry_idx}"))?;
        let value_type = reader.read_u32(&|| format!("the type of metadata {key}"))?;
        let value = reader.read_value(value_type, 0, &|| format!("metadata {key}"))?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(reader.bad(format!("metadata key {key} appears twice")));
        }
    }

    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(value) => match value.as_u64() {
            Some(a) if a.is_power_of_two() && a <= 1 << 16 => a,
            _ => {
                return Err(reader.bad(format!(
                    "general.alignment {value:?} is not a power of two up to 65536"
                )));
            }
        },
    };

    struct RawTensor {
        name: String,
        dims: Vec<u64>,
        ggml_type: GgmlType,
        relative_offset: u64,
        n_bytes: u64,
        n_elements: u64,
    }
    let mut raw_tensors = Vec::new();
    let mut names = HashSet::new();
    for tensor_idx in 0..n_tensors {
        let name = reader.read_string(&|| format!("the name of tensor {tensor_idx}"))?;
        let n_dims = reader.read_u32(&|| format!("the rank of tensor {name}"))?;
        if n_dims == 0 || n_dims > MAX_TENSOR_DIMS {
            return Err(reader.bad(format!(
                "tensor {name} has {n_dims} dimensions (1 to {MAX_TENSOR_DIMS} allowed)"
            )));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            let dim = reader.read_u64(&|| format!("the shape of tensor {name}"))?;
            if dim == 0 {
                return Err(reader.bad(format!("tensor {name} has a zero dimension")));
            }
            dims.push(dim);
        }
        let type_id = reader.read_u32(&|| format!("the type of tensor {name}"))?;
        let ggml_type = GgmlType::from_id(type_id)
            .ok_or_else(|| reader.bad(format!("tensor {name} has unknown type {type_id}")))?;
        let relative_offset = reader.read_u64(&|| format!("the offset of tensor {name}"))?;
        let n_elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d))
            .filter(|&n| n < 1 << 60)
            .ok_or_else(|| reader.bad(format!("tensor {name} has an absurd shape {dims:?}")))?;
        let (block_elements, block_bytes) = ggml_type.block_geometry();
        if dims[0] % block_elements != 0 {
            return Err(reader.bad(format!(
                "tensor {name} has rows of {} elements, not a multiple of the {} block size {block_elements}",
                dims[0],
                ggml_type.name()
            )));
        }
        let n_bytes = n_elements / block_elements * block_bytes;
        if relative_offset % alignment != 0 {
            return Err(reader.bad(format!(
                "tensor {name} starts at offset {relative_offset}, not aligned to {alignment}"
            )));
        }
        if !names.insert(name.clone()) {
            return Err(reader.bad(format!("tensor {name} appears twice")));
        }
        raw_tensors.push(RawTensor {
            name,
            dims,
            ggml_type,
            relative_offset,
            n_bytes,
            n_elements,
        });
    }

    let data_start = reader.position.div_ceil(alignment) * alignment;
    let mut tensors = Vec::with_capacity(raw_tensors.len());
    for raw in raw_tensors {
        let offset = data_start.checked_add(raw.relative_offset);
        let end = offset.and_then(|o| o.checked_add(raw.n_bytes));
        let (Some(offset), Some(end)) = (offset, end) else {
            return Err(GenerateError::TensorPastEnd {
                path,
                tensor: raw.name,
            });
        };
        if end > file_bytes {
            return Err(GenerateError::TensorPastEnd {
                path,
                tensor: raw.name,
            });
        }
        tensors.push(TensorInfo {
            name: raw.name,
            dims: raw.dims,
            ggml_type: raw.ggml_type,
            offset,
            n_bytes: raw.n_bytes,
            n_elements: raw.n_elements,
        });
    }

    Ok(GgufFile {
        path,
        version,
        file_bytes,
        alignment,
        data_start,
        metadata,
        tensors,
    })
}

/// The first bytes of a file shorter than the magic number.
fn read_prefix<R: Read>(reader: &mut BoundedReader<'_, R>) -> Result<Vec<u8>, GenerateError> {
    let mut prefix = vec![0u8; reader.file_bytes as usize];
    reader.read_exact_into(&mut prefix, &|| "the magic number".into())?;
    Ok(prefix)
}

/// Builds GGUF files in memory for tests (here and in the other modules).
#[cfg(test)]
pub(crate) mod testing {
    /// A metadata value to write.
    #[derive(Clone)]
    pub enum Value<'a> {
        U32(u32),
        U64(u64),
        F32(f32),
        Bool(bool),
        Str(&'a str),
        Strings(Vec<String>),
        I32s(Vec<i32>),
        F32s(Vec<f32>),
    }

    pub struct Tensor<'a> {
        pub name: &'a str,
        pub dims: Vec<u64>,
        pub type_id: u32,
        /// Raw bytes; the directory's offsets are laid out from them.
        pub data: Vec<u8>,
    }

    fn put_string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u64).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }

    /// A complete version-3 GGUF file with 32-byte alignment.
    pub fn build(metadata: &[(&str, Value<'_>)], tensors: &[Tensor<'_>]) -> Vec<u8> {
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
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&8u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for item in items {
                        put_string(&mut out, item);
                    }
                }
                Value::I32s(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&5u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                    for item in items {
                        out.extend_from_slice(&item.to_le_bytes());
                    }
                }
                Value::F32s(items) => {
                    out.extend_from_slice(&9u32.to_le_bytes());
                    out.extend_from_slice(&6u32.to_le_bytes());
                    out.extend_from_slice(&(items.len() as u64).to_le_bytes());
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
            put_string(&mut out, tensor.name);
            out.extend_from_slice(&(tensor.dims.len() as u32).to_le_bytes());
            for dim in &tensor.dims {
                out.extend_from_slice(&dim.to_le_bytes());
            }
            out.extend_from_slice(&tensor.type_id.to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
        }
        for tensor in tensors {
            while out.len() % 32 != 0 {
                out.push(0);
            }
            out.extend_from_slice(&tensor.data);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{Tensor, Value, build};
    use super::*;

    fn small_file() -> Vec<u8> {
        build(
            &[
                ("general.architecture", Value::Str("llama")),
                ("general.name", Value::Str("tiny")),
                ("llama.context_length", Value::U32(256)),
                ("llama.embedding_length", Value::U64(32)),
                ("llama.rope.freq_base", Value::F32(10000.0)),
                ("tokenizer.ggml.add_bos_token", Value::Bool(true)),
                ("tokenizer.ggml.model", Value::Str("gpt2")),
                (
                    "tokenizer.ggml.tokens",
                    Value::Strings(vec!["a".into(), "b".into(), "ab".into()]),
                ),
                ("tokenizer.ggml.merges", Value::Strings(vec!["a b".into()])),
                ("tokenizer.ggml.token_type", Value::I32s(vec![1, 1, 1])),
            ],
            &[
                Tensor {
                    name: "token_embd.weight",
                    dims: vec![32, 3],
                    type_id: 0,
                    data: vec![0; 32 * 3 * 4],
                },
                Tensor {
                    name: "blk.0.attn_q.weight",
                    dims: vec![32, 32],
                    type_id: 3,
                    data: vec![0; 20 * 32],
                },
            ],
        )
    }

    fn parse_bytes(bytes: &[u8]) -> Result<GgufFile, GenerateError> {
        let path = Path::new("test.gguf");
        parse(BoundedReader::new(bytes, bytes.len() as u64, path))
    }

    /// Parses `bytes` and checks the error message contains `expected`.
    fn check_error(bytes: &[u8], expected: &str) {
        match parse_bytes(bytes) {
            Ok(_) => panic!("expected an error containing {expected:?}, the file parsed"),
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.contains(expected),
                    "{message:?} does not contain {expected:?}"
                );
                assert!(
                    message.contains("test.gguf"),
                    "{message:?} does not name the file"
                );
            }
        }
    }

    #[test]
    fn parses_a_well_formed_file() {
        let file = parse_bytes(&small_file()).unwrap();
        let summary = file.summary();
        assert_eq!(summary.architecture, "llama");
        assert_eq!(summary.name.as_deref(), Some("tiny"));
        assert_eq!(summary.context_length, Some(256));
        assert_eq!(summary.embedding_length, Some(32));
        assert_eq!(summary.vocab_size, 3);
        assert_eq!(summary.n_params, 32 * 3 + 32 * 32);
        assert_eq!(summary.quantization, "Q4_1");
        assert!(summary.has_tokenizer);
        assert_eq!(file.arch_f64("rope.freq_base"), Some(10000.0));
        assert_eq!(
            file.get("tokenizer.ggml.add_bos_token")
                .and_then(MetaValue::as_bool),
            Some(true)
        );
        let q = file.tensor("blk.0.attn_q.weight").unwrap();
        assert_eq!(q.n_bytes, 20 * 32);
        assert_eq!(q.offset % 32, 0);
        assert!(q.offset + q.n_bytes <= file.file_bytes);
    }

    #[test]
    fn rejects_bad_magic() {
        let mut bytes = small_file();
        bytes[..4].copy_from_slice(b"GGUX");
        check_error(&bytes, "not a GGUF file (bad magic)");
        check_error(b"", "not a GGUF file (bad magic)");
        check_error(b"PK\x03", "not a GGUF file (bad magic)");
        check_error(b"%PDF-1.7 something", "not a GGUF file (bad magic)");
    }

    #[test]
    fn rejects_unknown_versions() {
        for version in [0u32, 1, 4, u32::MAX] {
            let mut bytes = small_file();
            bytes[4..8].copy_from_slice(&version.to_le_bytes());
            check_error(&bytes, &format!("unsupported GGUF version {version}"));
        }
    }

    #[test]
    fn every_truncation_is_a_clean_error() {
        let bytes = small_file();
        for cut in 0..bytes.len() {
            let error = parse_bytes(&bytes[..cut]).expect_err(&format!("cut at {cut} parsed"));
            let message = error.to_string();
            assert!(
                message.contains("truncated GGUF file")
                    || message.contains("bad magic")
                    || message.contains("lies past the end")
                    || message.contains("claims"),
                "cut at {cut}: {message}"
            );
        }
    }

    #[test]
    fn rejects_absurd_counts() {
        let mut bytes = small_file();
        bytes[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
        check_error(
            &bytes,
            &format!(
                "GGUF metadata claims {} entries but the file is only",
                u64::MAX
            ),
        );
        let mut bytes = small_file();
        bytes[8..16].copy_from_slice(&(u64::MAX / 2).to_le_bytes());
        check_error(&bytes, "GGUF tensor directory claims");
        let mut bytes = small_file();
        bytes[8..16].copy_from_slice(&1_000_000u64.to_le_bytes());
        check_error(&bytes, "the file is only");
    }

    #[test]
    fn rejects_huge_string_lengths() {
        // The first key's length field follows the 24-byte header.
        for len in [u64::MAX, MAX_STRING_BYTES + 1] {
            let mut bytes = small_file();
            bytes[24..32].copy_from_slice(&len.to_le_bytes());
            check_error(&bytes, "claims a string");
        }
        let mut bytes = small_file();
        bytes[24..32].copy_from_slice(&1_000_000u64.to_le_bytes());
        check_error(&bytes, "truncated GGUF file");
    }

    #[test]
    fn rejects_huge_arrays_and_bad_types() {
        let array_file = |element_type: u32, len: u64| {
            let mut out = Vec::new();
            out.extend_from_slice(b"GGUF");
            out.extend_from_slice(&3u32.to_le_bytes());
            out.extend_from_slice(&0u64.to_le_bytes());
            out.extend_from_slice(&1u64.to_le_bytes());
            out.extend_from_slice(&1u64.to_le_bytes());
            out.push(b'k');
            out.extend_from_slice(&9u32.to_le_bytes());
            out.extend_from_slice(&element_type.to_le_bytes());
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&[0u8; 64]);
            out
        };
        check_error(&array_file(8, u64::MAX), "claims an array");
        check_error(&array_file(4, MAX_ARRAY_LEN + 1), "claims an array");
        check_error(&array_file(4, 1_000_000), "truncated GGUF file");
        check_error(&array_file(99, 1), "unknown element type 99");
        // Nested arrays: an array of arrays of arrays goes past the depth limit.
        let mut nested = array_file(9, 1);
        nested.truncate(nested.len() - 64);
        for _ in 0..3 {
            nested.extend_from_slice(&9u32.to_le_bytes());
            nested.extend_from_slice(&1u64.to_le_bytes());
        }
        nested.extend_from_slice(&[0u8; 64]);
        check_error(&nested, "nests arrays deeper");
        // An unknown scalar value type.
        let mut bytes = array_file(4, 1);
        bytes[33..37].copy_from_slice(&77u32.to_le_bytes());
        check_error(&bytes, "unknown value type 77");
    }

    #[test]
    fn rejects_tensors_outside_the_file() {
        let bytes = small_file();
        let file = parse_bytes(&bytes).unwrap();
        let last = file.tensor("blk.0.attn_q.weight").unwrap();
        // Dropping the last byte of tensor data leaves the directory intact.
        check_error(
            &bytes[..(last.offset + last.n_bytes - 1) as usize],
            "tensor blk.0.attn_q.weight lies past the end of the file",
        );
    }

    #[test]
    fn rejects_bad_tensor_entries() {
        let with_tensor = |dims: Vec<u64>, type_id: u32, data: usize| {
            build(
                &[("general.architecture", Value::Str("llama"))],
                &[Tensor {
                    name: "t",
                    dims,
                    type_id,
                    data: vec![0; data],
                }],
            )
        };
        check_error(&with_tensor(vec![32, 0], 0, 0), "zero dimension");
        check_error(&with_tensor(vec![1, 1, 1, 1, 1], 0, 4), "5 dimensions");
        check_error(&with_tensor(vec![u64::MAX, u64::MAX], 0, 4), "absurd shape");
        check_error(&with_tensor(vec![33], 3, 40), "not a multiple");
        check_error(&with_tensor(vec![32], 123, 40), "unknown type 123");
        check_error(
            &with_tensor(vec![1 << 40], 0, 64),
            "tensor t lies past the end of the file",
        );
    }

    #[test]
    fn rejects_invalid_alignment_and_duplicates() {
        let bytes = build(&[("general.alignment", Value::U32(24))], &[]);
        check_error(&bytes, "general.alignment");
        let bytes = build(&[("a", Value::U32(1)), ("a", Value::U32(2))], &[]);
        check_error(&bytes, "metadata key a appears twice");
        let tensor = || Tensor {
            name: "t",
            dims: vec![1],
            type_id: 0,
            data: vec![0; 4],
        };
        let bytes = build(&[], &[tensor(), tensor()]);
        check_error(&bytes, "tensor t appears twice");
    }

    #[test]
    fn random_corruption_never_panics() {
        // A small xorshift so the test needs no extra crate and is repeatable.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let original = small_file();
        for _ in 0..2000 {
            let mut bytes = original.clone();
            for _ in 0..(next() % 4 + 1) {
                let idx = (next() as usize) % bytes.len();
                bytes[idx] = next() as u8;
            }
            let _ = parse_bytes(&bytes);
        }
    }
}
