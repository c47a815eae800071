//! A BERT / XLM-RoBERTa encoder run through candle, read from a Hugging Face
//! `model.safetensors`.
//!
//! The word-embedding table (250k rows for the XLM-R vocabulary, most of a
//! small model's bytes) is never copied: rows are read straight from the
//! memory-mapped file, so only the rows a text uses are paged in. That keeps
//! load time and resident memory small.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
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
        self.max_position_embeddings - self.position_offset()
    }
}

struct Layer {
    /// Q, K, V fused and transposed: [H, 3H].
    qkv_w: Tensor,
    qkv_b: Tensor,
    ao_w: Tensor,
    ao_b: Tensor,
    aln_w: Tensor,
    aln_b: Tensor,
    fi_w: Tensor,
    fi_b: Tensor,
    fo_w: Tensor,
    fo_b: Tensor,
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
            let mut lin =
                |name: &str, out: usize, inp: usize| -> Result<(Tensor, Tensor), EmbedError> {
                    let w = get(&format!("{p}{name}.weight"), &[out, inp])?;
                    let b = get(&format!("{p}{name}.bias"), &[out])?;
                    parameters += w.len() + b.len();
                    // Stored [out, in]; kept as [in, out] so x·W is a plain GEMM.
                    let wt = Tensor::from_vec(w, (out, inp), &dev)
                        .and_then(|t| t.t()?.contiguous())
                        .map_err(cerr)?;
                    let bt = Tensor::from_vec(b, (out,), &dev).map_err(cerr)?;
                    Ok((wt, bt))
                };
            let (qw, qb) = lin("attention.self.query", h, h)?;
            let (kw, kb) = lin("attention.self.key", h, h)?;
            let (vw, vb) = lin("attention.self.value", h, h)?;
            let (ao_w, ao_b) = lin("attention.output.dense", h, h)?;
            let (fi_w, fi_b) = lin("intermediate.dense", ff, h)?;
            let (fo_w, fo_b) = lin("output.dense", h, ff)?;
            let qkv_w = Tensor::cat(&[&qw, &kw, &vw], 1).map_err(cerr)?;
            let qkv_b = Tensor::cat(&[&qb, &kb, &vb], 0).map_err(cerr)?;
            let ln = |name: &str| -> Result<Tensor, EmbedError> {
                vec_t(get(&format!("{p}{name}"), &[h])?).map_err(cerr)
            };
            layers.push(Layer {
                qkv_w,
                qkv_b,
                ao_w,
                ao_b,
                aln_w: ln("attention.output.LayerNorm.weight")?,
                aln_b: ln("attention.output.LayerNorm.bias")?,
                fi_w,
                fi_b,
                fo_w,
                fo_b,
                oln_w: ln("output.LayerNorm.weight")?,
                oln_b: ln("output.LayerNorm.bias")?,
            });
        }
        for name in &names {
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

    /// Runs a batch of token sequences (specials included, each no longer
    /// than [`BertConfig::max_tokens`]) and returns the final hidden states
    /// as one row-major buffer [batch, max_len, H] plus that max_len.
    pub fn forward(&self, seqs: &[&[u32]]) -> candle_core::Result<(Vec<f32>, usize)> {
        let h = self.hidden();
        let b = seqs.len();
        let l = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        if b == 0 || l == 0 {
            return Ok((Vec::new(), l));
        }
        let off = self.config.position_offset();
        let mut x = vec![0f32; b * l * h];
        x.par_chunks_mut(l * h)
            .zip(seqs.par_iter())
            .for_each(|(rows, seq)| {
                for (t, (&id, row)) in seq.iter().zip(rows.chunks_exact_mut(h)).enumerate() {
                    self.word_row(id, row);
                    let pt = &self.pos_type[(t + off) * h..(t + off + 1) * h];
                    for (r, p) in row.iter_mut().zip(pt) {
                        *r += p;
                    }
                }
            });
        let dev = Device::Cpu;
        let eps = self.config.layer_norm_eps as f32;
        let mut x = Tensor::from_vec(x, (b * l, h), &dev)?;
        x = candle_nn::ops::layer_norm(&x, &self.eln_w, &self.eln_b, eps)?;

        // Additive key mask: padding keys get a large negative score. Every
        // query row keeps at least one real key, so softmax never sees a
        // row of only masked entries.
        let mut mask = vec![0f32; b * l];
        for (i, s) in seqs.iter().enumerate() {
            for m in &mut mask[i * l + s.len()..(i + 1) * l] {
                *m = -1e30;
            }
        }
        let mask = Tensor::from_vec(mask, (b, 1, 1, l), &dev)?;
        let nh = self.config.num_attention_heads;
        let hd = h / nh;
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let qkv = x.matmul(&layer.qkv_w)?.broadcast_add(&layer.qkv_b)?;
            let heads = |i: usize| -> candle_core::Result<Tensor> {
                qkv.narrow(1, i * h, h)?
                    .reshape((b, l, nh, hd))?
                    .transpose(1, 2)?
                    .contiguous()
            };
            let q = (heads(0)? * scale)?;
            let k = heads(1)?;
            let v = heads(2)?;
            let scores = q.matmul(&k.t()?)?.broadcast_add(&mask)?;
            let probs = candle_nn::ops::softmax_last_dim(&scores)?;
            let ctx = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * l, h))?;
            let ao = ctx.matmul(&layer.ao_w)?.broadcast_add(&layer.ao_b)?;
            x = candle_nn::ops::layer_norm(&(x + ao)?, &layer.aln_w, &layer.aln_b, eps)?;
            let mid = x.matmul(&layer.fi_w)?.broadcast_add(&layer.fi_b)?;
            let mid = if self.tanh_gelu {
                mid.gelu()?
            } else {
                mid.gelu_erf()?
            };
            let fo = mid.matmul(&layer.fo_w)?.broadcast_add(&layer.fo_b)?;
            x = candle_nn::ops::layer_norm(&(x + fo)?, &layer.oln_w, &layer.oln_b, eps)?;
        }
        let out = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        Ok((out, l))
    }
}
