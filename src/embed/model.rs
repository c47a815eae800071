//! A BERT / XLM-RoBERTa encoder run through candle, read from a Hugging Face
//! `model.safetensors`.
//!
//! The word-embedding table (250k rows for the XLM-R vocabulary, most of a
//! small model's bytes) is never copied: rows are read straight from the
//! memory-mapped file, so only the rows a text uses are paged in. That keeps
//! load time and resident memory small.

use std::path::Path;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, IndexOp, Module, Tensor};
use memmap2::Mmap;
use rayon::prelude::*;
use safetensors::SafeTensors;
use serde::Deserialize;

use super::EmbedError;

/// The fields of a Hugging Face `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    #[serde(default)]
    pub model_type: String,
    #[serde(default)]
    pub pad_token_id: Option<usize>,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default, rename = "_name_or_path")]
    pub name_or_path: Option<String>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> String {
    "gelu".into()
}

impl BertConfig {
    /// First position id. RoBERTa-family models (XLM-R, bge-m3, e5-base)
    /// number positions from `padding_idx + 1`, exactly as HF's
    /// `create_position_ids_from_input_ids` does; BERT starts at 0.
    pub fn position_offset(&self) -> usize {
        if self.model_type.contains("roberta") {
            self.pad_token_id.unwrap_or(1) + 1
        } else {
            0
        }
    }

    /// Longest input (specials included) the position table allows.
    pub fn max_tokens(&self) -> usize {
        self.max_position_embeddings
            .saturating_sub(self.position_offset())
    }
}

/// A dense layer: f32 weights transposed to [in, out], so a batch is one
/// plain GEMM. A Q8_0 copy is built on first use for callers that opt into
/// quantized short inputs (see `Embedder::set_quantized_max_tokens`).
struct Linear {
    w_t: Tensor,
    b: Tensor,
    q8: std::sync::OnceLock<QMatMul>,
}

impl Linear {
    fn new(w: Tensor, b: Tensor) -> candle_core::Result<Linear> {
        Ok(Linear {
            w_t: w.t()?.contiguous()?,
            b,
            q8: std::sync::OnceLock::new(),
        })
    }

    fn forward(&self, x: &Tensor, quantized: bool) -> candle_core::Result<Tensor> {
        let y = if quantized {
            let q8 = match self.q8.get() {
                Some(q) => q,
                None => {
                    let w = self.w_t.t()?.contiguous()?;
                    let q = QMatMul::from_qtensor(QTensor::quantize(&w, GgmlDType::Q8_0)?)?;
                    self.q8.get_or_init(|| q)
                }
            };
            q8.forward(x)?
        } else {
            x.matmul(&self.w_t)?
        };
        y.broadcast_add(&self.b)
    }
}

struct Layer {
    /// Q, K and V projections fused: one pass over the activations.
    qkv: Linear,
    ao: Linear,
    aln_w: Tensor,
    aln_b: Tensor,
    fi: Linear,
    fo: Linear,
    oln_w: Tensor,
    oln_b: Tensor,
}

/// Where the word-embedding rows live inside the mapped file.
struct WordTable {
    offset: usize,
    rows: usize,
    dtype: safetensors::Dtype,
}

pub struct Encoder {
    pub config: BertConfig,
    mmap: Mmap,
    words: WordTable,
    /// Position rows + token-type row 0, pre-added: [max_positions, H].
    pos_type: Vec<f32>,
    eln_w: Tensor,
    eln_b: Tensor,
    layers: Vec<Layer>,
    /// `gelu_new` / `gelu_pytorch_tanh` checkpoints use the tanh form.
    tanh_gelu: bool,
    pub parameters: usize,
    /// Fingerprint of the weights (header + a sample of every tensor).
    pub fingerprint: String,
}

fn model_err(dir: &Path, problem: impl Into<String>) -> EmbedError {
    EmbedError::Model {
        dir: dir.to_path_buf(),
        problem: problem.into(),
    }
}

fn to_f32_vec(dtype: safetensors::Dtype, bytes: &[u8]) -> Option<Vec<f32>> {
    use safetensors::Dtype;
    Some(match dtype {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes(b.try_into().unwrap()).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes(b.try_into().unwrap()).to_f32())
            .collect(),
        _ => return None,
    })
}

fn dtype_size(dtype: safetensors::Dtype) -> usize {
    match dtype {
        safetensors::Dtype::F32 => 4,
        _ => 2,
    }
}

impl Encoder {
    pub fn load(dir: &Path, config: BertConfig) -> Result<Encoder, EmbedError> {
        let path = dir.join("model.safetensors");
        let file = std::fs::File::open(&path)
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        // SAFETY: the file is opened read-only and models are not rewritten
        // while a process uses them (imports write a new file and rename).
        let mmap = unsafe { Mmap::map(&file) }
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        let st = SafeTensors::deserialize(&mmap)
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        let names = st.names();
        let word_key = names
            .iter()
            .find(|n| n.ends_with("embeddings.word_embeddings.weight"))
            .ok_or_else(|| model_err(dir, "model.safetensors has no word_embeddings"))?;
        // Checkpoints saved from a task model prefix everything with
        // `bert.` / `roberta.`; a bare BertModel/XLMRobertaModel does not.
        let prefix = word_key
            .trim_end_matches("embeddings.word_embeddings.weight")
            .to_string();
        let h = config.hidden_size;
        let mut parameters = 0usize;
        let mut hasher = sha2::Sha256::new();
        use sha2::Digest;
        let (header_len, _) = SafeTensors::read_metadata(&mmap)
            .map_err(|e| model_err(dir, format!("model.safetensors: {e}")))?;
        hasher.update(&mmap[..8 + header_len]);

        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, EmbedError> {
            let full = format!("{prefix}{name}");
            let view = st
                .tensor(&full)
                .or_else(|_| st.tensor(&full.replace("LayerNorm.weight", "LayerNorm.gamma")))
                .or_else(|_| st.tensor(&full.replace("LayerNorm.bias", "LayerNorm.beta")))
                .map_err(|_| model_err(dir, format!("missing tensor {full}")))?;
            if view.shape() != shape {
                return Err(model_err(
                    dir,
                    format!("{full}: shape {:?}, config says {:?}", view.shape(), shape),
                ));
            }
            to_f32_vec(view.dtype(), view.data()).ok_or_else(|| {
                model_err(dir, format!("{full}: unsupported dtype {:?}", view.dtype()))
            })
        };
        let dev = Device::Cpu;
        let vec_t = |v: Vec<f32>| Tensor::from_vec(v, (h,), &dev);
        let cerr = |e: candle_core::Error| model_err(dir, e.to_string());

        let wview = st
            .tensor(word_key)
            .map_err(|e| model_err(dir, e.to_string()))?;
        if wview.shape().len() != 2
            || wview.shape()[1] != h
            || to_f32_vec(wview.dtype(), &[]).is_none()
        {
            return Err(model_err(dir, "word_embeddings: bad shape or dtype"));
        }
        let words = WordTable {
            offset: wview.data().as_ptr() as usize - mmap.as_ptr() as usize,
            rows: wview.shape()[0],
            dtype: wview.dtype(),
        };
        parameters += words.rows * h;

        let maxp = config.max_position_embeddings;
        let pos = get("embeddings.position_embeddings.weight", &[maxp, h])?;
        let typ = get(
            "embeddings.token_type_embeddings.weight",
            &[config.type_vocab_size, h],
        )?;
        parameters += pos.len() + typ.len();
        let mut pos_type = pos;
        for row in pos_type.chunks_exact_mut(h) {
            for (p, t) in row.iter_mut().zip(&typ[..h]) {
                *p += t;
            }
        }
        let eln_w = vec_t(get("embeddings.LayerNorm.weight", &[h])?).map_err(cerr)?;
        let eln_b = vec_t(get("embeddings.LayerNorm.bias", &[h])?).map_err(cerr)?;

        let ff = config.intermediate_size;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            let mut raw =
                |name: &str, out: usize, inp: usize| -> Result<(Tensor, Tensor), EmbedError> {
                    let w = get(&format!("{p}{name}.weight"), &[out, inp])?;
                    let b = get(&format!("{p}{name}.bias"), &[out])?;
                    parameters += w.len() + b.len();
                    let wt = Tensor::from_vec(w, (out, inp), &dev).map_err(cerr)?;
                    let bt = Tensor::from_vec(b, (out,), &dev).map_err(cerr)?;
                    Ok((wt, bt))
                };
            let (qw, qb) = raw("attention.self.query", h, h)?;
            let (kw, kb) = raw("attention.self.key", h, h)?;
            let (vw, vb) = raw("attention.self.value", h, h)?;
            let (aow, aob) = raw("attention.output.dense", h, h)?;
            let (fiw, fib) = raw("intermediate.dense", ff, h)?;
            let (fow, fob) = raw("output.dense", h, ff)?;
            let qkv = Tensor::cat(&[&qw, &kw, &vw], 0)
                .and_then(|w| Linear::new(w, Tensor::cat(&[&qb, &kb, &vb], 0)?))
                .map_err(cerr)?;
            let ln = |name: &str| -> Result<Tensor, EmbedError> {
                vec_t(get(&format!("{p}{name}"), &[h])?).map_err(cerr)
            };
            layers.push(Layer {
                qkv,
                ao: Linear::new(aow, aob).map_err(cerr)?,
                aln_w: ln("attention.output.LayerNorm.weight")?,
                aln_b: ln("attention.output.LayerNorm.bias")?,
                fi: Linear::new(fiw, fib).map_err(cerr)?,
                fo: Linear::new(fow, fob).map_err(cerr)?,
                oln_w: ln("output.LayerNorm.weight")?,
                oln_b: ln("output.LayerNorm.bias")?,
            });
        }
        // Names come from a hash map: sort them, or the fingerprint changes
        // from run to run.
        let mut sorted = names.clone();
        sorted.sort();
        for name in sorted {
            if let Ok(v) = st.tensor(name) {
                let d = v.data();
                hasher.update(&d[..d.len().min(4096)]);
            }
        }
        let digest = hasher.finalize();
        let fingerprint = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        drop(names);
        drop(st);
        let tanh_gelu = match config.hidden_act.as_str() {
            "gelu" => false,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => true,
            other => return Err(model_err(dir, format!("unsupported hidden_act {other:?}"))),
        };
        Ok(Encoder {
            tanh_gelu,
            config,
            mmap,
            words,
            pos_type,
            eln_w,
            eln_b,
            layers,
            parameters,
            fingerprint,
        })
    }

    pub fn hidden(&self) -> usize {
        self.config.hidden_size
    }

    pub fn vocab_rows(&self) -> usize {
        self.words.rows
    }

    fn word_row(&self, id: u32, out: &mut [f32]) {
        let h = out.len();
        let es = dtype_size(self.words.dtype);
        let id = (id as usize).min(self.words.rows - 1);
        let start = self.words.offset + id * h * es;
        let bytes = &self.mmap[start..start + h * es];
        match self.words.dtype {
            safetensors::Dtype::F32 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                    *o = f32::from_le_bytes(b.try_into().unwrap());
                }
            }
            safetensors::Dtype::F16 => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::f16::from_le_bytes(b.try_into().unwrap()).to_f32();
                }
            }
            _ => {
                for (o, b) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                    *o = half::bf16::from_le_bytes(b.try_into().unwrap()).to_f32();
                }
            }
        }
    }

    /// Runs token sequences (specials included, each no longer than
    /// [`BertConfig::max_tokens`]) packed back to back without padding, and
    /// returns the final hidden states, row-major [total tokens, H].
    /// `quantized` selects the Q8_0 weights (worth it for a few rows).
    pub fn forward(&self, seqs: &[&[u32]], quantized: bool) -> candle_core::Result<Vec<f32>> {
        // One pool for candle's GEMMs and this crate's parallel loops, its
        // workers kept warm across the pass: two pools would put twice as
        // many busy threads as cores.
        Device::Cpu.with_context(|| self.forward_inner(seqs, quantized))
    }

    fn forward_inner(&self, seqs: &[&[u32]], quantized: bool) -> candle_core::Result<Vec<f32>> {
        let h = self.hidden();
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        if total == 0 {
            return Ok(Vec::new());
        }
        let off = self.config.position_offset();
        let mut x = vec![0f32; total * h];
        {
            let mut parts = Vec::with_capacity(seqs.len());
            let mut rest = x.as_mut_slice();
            for s in seqs {
                let (head, tail) = rest.split_at_mut(s.len() * h);
                parts.push((head, *s));
                rest = tail;
            }
            parts.into_par_iter().for_each(|(rows, seq)| {
                for (t, (&id, row)) in seq.iter().zip(rows.chunks_exact_mut(h)).enumerate() {
                    self.word_row(id, row);
                    let pt = &self.pos_type[(t + off) * h..(t + off + 1) * h];
                    for (r, p) in row.iter_mut().zip(pt) {
                        *r += p;
                    }
                }
            });
        }
        let dev = Device::Cpu;
        let eps = self.config.layer_norm_eps as f32;
        let mut x = Tensor::from_vec(x, (total, h), &dev)?;
        x = candle_nn::ops::layer_norm(&x, &self.eln_w, &self.eln_b, eps)?;

        let mut spans = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            spans.push((start, s.len()));
            start += s.len();
        }
        let nh = self.config.num_attention_heads;
        let hd = h / nh;
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x, quantized)?;
            // Attention stays within each sequence: no padding, no mask.
            // Sequences run in parallel; the GEMMs inside are small.
            let ctx: Vec<Tensor> = spans
                .par_iter()
                .map(|&(start, len)| -> candle_core::Result<Tensor> {
                    let s = qkv
                        .narrow(0, start, len)?
                        .reshape((len, 3, nh, hd))?
                        .permute((1, 2, 0, 3))?;
                    let q = (s.i(0)?.contiguous()? * scale)?;
                    let k = s.i(1)?.contiguous()?;
                    let v = s.i(2)?.contiguous()?;
                    let probs = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
                    probs.matmul(&v)?.transpose(0, 1)?.reshape((len, h))
                })
                .collect::<candle_core::Result<_>>()?;
            let ctx = if ctx.len() == 1 {
                ctx.into_iter().next().unwrap()
            } else {
                Tensor::cat(&ctx, 0)?
            };
            let ao = layer.ao.forward(&ctx, quantized)?;
            x = candle_nn::ops::layer_norm(&(x + ao)?, &layer.aln_w, &layer.aln_b, eps)?;
            let mid = self.activation(&layer.fi.forward(&x, quantized)?)?;
            let fo = layer.fo.forward(&mid, quantized)?;
            x = candle_nn::ops::layer_norm(&(x + fo)?, &layer.oln_w, &layer.oln_b, eps)?;
        }
        x.flatten_all()?.to_vec1::<f32>()
    }

    /// candle 0.11 already spreads element-wise kernels over its worker
    /// pool, so GELU is applied whole.
    fn activation(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.tanh_gelu {
            x.gelu()
        } else {
            x.gelu_erf()
        }
    }
}
