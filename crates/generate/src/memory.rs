//! How much memory a model will take once loaded, and how much the machine has, so that a model
//! larger than RAM is refused with a message instead of taking the machine down.

use std::path::Path;

use crate::GenerateError;
use crate::gguf::{GgmlType, GgufFile};
use crate::native::{Config, WeightFormat, packed_bytes, runs_natively};

/// Allocator slack, scratch buffers, the tokenizer and the thread stacks.
pub const OVERHEAD_BYTES: u64 = 200 << 20;

/// The memory a loaded model needs, by part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Weights as held in memory (re-quantized where the backend needs it).
    pub weights_bytes: u64,
    /// Keys and values for the whole usable context.
    pub kv_cache_bytes: u64,
    pub overhead_bytes: u64,
}

impl MemoryEstimate {
    pub fn total_bytes(&self) -> u64 {
        self.weights_bytes + self.kv_cache_bytes + self.overhead_bytes
    }

    /// Docent's CPU backend: packed weights (4-bit and 8-bit as shipped, anything else 8-bit),
    /// f32 norms, an f32 KV cache and the rotary tables.
    pub fn for_native(file: &GgufFile, config: &Config, format: WeightFormat) -> Self {
        let mut weights_bytes = 0u64;
        for tensor in &file.tensors {
            let (rows, cols) = tensor.rows_and_cols();
            weights_bytes += if tensor.dims.len() == 1 {
                rows as u64 * cols as u64 * 4
            } else {
                packed_bytes(tensor.ggml_type, rows, cols, format)
            };
        }
        let rope_bytes = (config.context_length * config.rope_dim * 4) as u64;
        Self {
            weights_bytes,
            kv_cache_bytes: config.kv_cache_bytes(config.context_length) + rope_bytes,
            overhead_bytes: OVERHEAD_BYTES,
        }
    }

    /// candle's backend: tensors as stored, except that it dequantizes the token embedding and
    /// any f16/bf16 matrix to f32; its KV cache is f32 and briefly doubles while it grows.
    pub fn for_candle(file: &GgufFile, config: &Config) -> Self {
        let mut weights_bytes = 0u64;
        for tensor in &file.tensors {
            let as_f32 = tensor.name == "token_embd.weight"
                || matches!(
                    tensor.ggml_type,
                    GgmlType::F16 | GgmlType::BF16 | GgmlType::F32
                );
            weights_bytes += if as_f32 {
                tensor.n_elements * 4
            } else {
                tensor.n_bytes
            };
            if tensor.name == "token_embd.weight" && file.tensor("output.weight").is_none() {
                // Tied output: candle keeps the quantized copy too.
                weights_bytes += tensor.n_bytes;
            }
        }
        Self {
            weights_bytes,
            kv_cache_bytes: 2 * config.kv_cache_bytes(config.context_length),
            overhead_bytes: OVERHEAD_BYTES,
        }
    }
}

/// Whether every weight matrix of `file` runs on Docent's kernels without re-quantization.
pub fn all_native(file: &GgufFile) -> bool {
    file.tensors
        .iter()
        .filter(|t| t.dims.len() >= 2)
        .all(|t| runs_natively(t.ggml_type))
}

/// Refuses a model whose estimate exceeds the memory available (when the system says).
pub fn ensure_fits(
    path: &Path,
    estimate: &MemoryEstimate,
    available_bytes: Option<u64>,
) -> Result<(), GenerateError> {
    match available_bytes {
        Some(available_bytes) if estimate.total_bytes() > available_bytes => {
            Err(GenerateError::NotEnoughMemory {
                path: path.to_path_buf(),
                needed_bytes: estimate.total_bytes(),
                available_bytes,
            })
        }
        _ => Ok(()),
    }
}

/// `MemAvailable` from /proc/meminfo; `None` where the system does not say.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    parse_mem_available(&meminfo)
}

fn parse_mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find(|line| line.starts_with("MemAvailable:"))?;
    let mut fields = line.split_whitespace().skip(1);
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(value * 1024),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mem_available() {
        let check = |text: &str, expected: Option<u64>| {
            assert_eq!(parse_mem_available(text), expected, "{text:?}")
        };
        check(
            "MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   22000000 kB\n",
            Some(22_000_000 * 1024),
        );
        check("MemTotal: 1 kB\n", None);
        check("MemAvailable: lots kB\n", None);
        check("MemAvailable: 5 MB\n", None);
        assert!(available_memory().is_some_and(|bytes| bytes > 0));
    }

    #[test]
    fn refuses_a_model_larger_than_memory() {
        let estimate = MemoryEstimate {
            weights_bytes: 7 << 30,
            kv_cache_bytes: 1 << 30,
            overhead_bytes: OVERHEAD_BYTES,
        };
        let path = Path::new("big.gguf");
        let message = ensure_fits(path, &estimate, Some(4 << 30))
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "big.gguf needs about 8392 MiB of memory but only 4096 MiB are available: close other programs or choose a smaller model"
        );
        assert!(ensure_fits(path, &estimate, Some(16 << 30)).is_ok());
        assert!(
            ensure_fits(path, &estimate, None).is_ok(),
            "unknown memory does not block loading"
        );
    }
}
