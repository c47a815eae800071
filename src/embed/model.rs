//! A BERT / XLM-RoBERTa encoder run through candle, read from a Hugging Face
//! `model.safetensors`.
//!
//! The word-embedding table (250k rows for the XLM-R vocabulary, most of a
//! small model's bytes) is never copied: each pass reads the rows its
//! tokens need from the file (`pread`, served from the page cache). That
//! keeps load time and resident memory small.

use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use std::os::unix::fs::FileExt;

use memmap2::Mmap;
use rayon::prelude::*;
use safetensors::SafeTensors;
use serde::Deserialize;

use super::int8::{Int8Matrix, QuantRows};
use super::kernels::{self, SharedMut};
use super::scratch;
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
    #[serde(default)]
    pub hidden_act: HiddenAct,
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
/// The feed-forward activation: GELU exactly (erf), or its tanh
/// approximation under the names model configs give it. Any other
/// activation fails when the config is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum HiddenAct {
    #[default]
    #[serde(rename = "gelu")]
    Gelu,
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
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

/// How a forward pass multiplies its dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseMath {
    /// f32 weights and activations through the GEMM.
    F32,
    /// int8 weights with per-block scales, f32 activations (`int8.rs`).
    Int8Weights,
    /// int8 weights and activations quantised per row and block of 32,
    /// multiplied in integers (`int8.rs`); layers whose codes are too wide
    /// for it use [`DenseMath::Int8Weights`].
    Int8,
}

/// A dense layer: its weights as int8 with per-block scales (`int8.rs`),
/// multiplied by quantised activations ([`DenseMath::Int8`]) or by f32
/// ones; and, for [`DenseMath::F32`], the f32 weights transposed to
/// [in, out], so a batch is one plain GEMM whose destination is pre-filled
/// with the bias.
struct Linear {
    /// `[in, out]`. For weights whose int8 copy is exact and takes the
    /// integer path, made from that copy only if a pass asks for f32
    /// (85 MB for e5-small that serving never needs).
    w_t: std::sync::OnceLock<Vec<f32>>,
    b: Vec<f32>,
    inp: usize,
    out: usize,
    q8: Int8Matrix,
}

impl Linear {
    fn new(w: Tensor, b: Tensor) -> candle_core::Result<Linear> {
        let (out, inp) = w.dims2()?;
        let rows: Vec<f32> = w.flatten_all()?.to_vec1()?;
        let q8 = Int8Matrix::from_rows(&rows, out, inp);
        let w_t = std::sync::OnceLock::new();
        if !(q8.exact() && q8.takes_quantized()) {
            let wt: Vec<f32> = w.t()?.contiguous()?.flatten_all()?.to_vec1()?;
            w_t.get_or_init(|| wt);
        }
        Ok(Linear {
            w_t,
            b: b.to_vec1()?,
            inp,
            out,
            q8,
        })
    }

    /// The f32 weights `[in, out]`.
    fn weights_t(&self) -> &[f32] {
        self.w_t.get_or_init(|| self.q8.dequantized_t())
    }

    /// `y[rows, out] = x[rows, in] · Wᵀ + b`, multiplied as `math` says.
    fn forward(&self, x: &[f32], y: &mut [f32], math: DenseMath) {
        let rows = x.len() / self.inp;
        debug_assert_eq!(y.len(), rows * self.out);
        match math {
            DenseMath::Int8 if self.q8.takes_quantized() => {
                self.q8
                    .matmul_quantized(&QuantRows::new(x, self.inp), &self.b, y);
                return;
            }
            DenseMath::Int8 | DenseMath::Int8Weights => {
                self.q8.matmul(x, &self.b, y);
                return;
            }
            DenseMath::F32 => {}
        }
        for row in y.chunks_exact_mut(self.out) {
            row.copy_from_slice(&self.b);
        }
        // SAFETY: x is [rows, inp], w_t is [inp, out] and y is [rows, out],
        // all row-major and contiguous; the strides below say exactly that.
        unsafe {
            gemm::gemm(
                rows,
                self.out,
                self.inp,
                y.as_mut_ptr(),
                1,
                self.out as isize,
                true,
                x.as_ptr(),
                1,
                self.inp as isize,
                self.weights_t().as_ptr(),
                1,
                self.out as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(rayon::current_num_threads()),
            )
        }
    }
}

/// Values a parallel task of the row-wise loops (layer norm, GELU) should
/// at least get: below that, handing the task to another thread costs more
/// than it saves (a short query's 15 rows run as one task).
const MIN_VALUES_PER_TASK: usize = 16 * 1024;

/// Rows per parallel task of a row-wise loop over `total` rows of `width`
/// values: enough work to pay for the task, enough tasks to balance.
fn rows_per_task(total: usize, width: usize) -> usize {
    let min = MIN_VALUES_PER_TASK.div_ceil(width.max(1));
    (total / (4 * rayon::current_num_threads())).clamp(min, min.max(64))
}

/// Sequences up to this long attend with plain loops (`Encoder::attend`);
/// longer ones with two small GEMMs, whose set-up costs more than the
/// arithmetic for a short query.
const DIRECT_ATTENTION_MAX_LEN: usize = 64;

struct Layer {
    /// Q, K and V projections fused: one pass over the activations.
    qkv: Linear,
    ao: Linear,
    aln_w: Vec<f32>,
    aln_b: Vec<f32>,
    fi: Linear,
    fo: Linear,
    oln_w: Vec<f32>,
    oln_b: Vec<f32>,
}

/// Where the word-embedding rows live inside the model file.
struct WordTable {
    offset: u64,
    rows: usize,
    dtype: safetensors::Dtype,
}

pub struct Encoder {
    pub config: BertConfig,
    /// The model file, for the word-embedding rows a pass needs. Read with
    /// `pread` rather than mapped: a mapping keeps every row any text ever
    /// used in the process's resident memory (a quarter of a gigabyte after
    /// a few long texts), where the page cache holds them for all readers
    /// and gives them back under pressure.
    file: std::fs::File,
    /// The model folder (for errors).
    dir: PathBuf,
    words: WordTable,
    /// Position rows + token-type row 0, pre-added: [max_positions, H].
    pos_type: Vec<f32>,
    eln_w: Vec<f32>,
    eln_b: Vec<f32>,
    layers: Vec<Layer>,
    /// `gelu_new` / `gelu_pytorch_tanh` checkpoints use the tanh form.
    tanh_gelu: bool,
    /// Longest sequence attended with plain loops
    /// ([`DIRECT_ATTENTION_MAX_LEN`]; tests lower it to reach the GEMM path).
    pub(crate) direct_attention_max_len: usize,
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
            offset: (wview.data().as_ptr() as usize - mmap.as_ptr() as usize) as u64,
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
        let eln_w = get("embeddings.LayerNorm.weight", &[h])?;
        let eln_b = get("embeddings.LayerNorm.bias", &[h])?;

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
            let ln = |name: &str| get(&format!("{p}{name}"), &[h]);
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
        // Everything but the word table is copied out; the mapping goes.
        drop(mmap);
        let tanh_gelu = config.hidden_act == HiddenAct::GeluTanh;
        Ok(Encoder {
            tanh_gelu,
            direct_attention_max_len: DIRECT_ATTENTION_MAX_LEN,
            config,
            file,
            dir: dir.to_path_buf(),
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

    /// Every dense layer of every encoder layer.
    fn dense_layers(&self) -> impl Iterator<Item = &Linear> {
        self.layers
            .iter()
            .flat_map(|l| [&l.qkv, &l.ao, &l.fi, &l.fo])
    }

    /// Whether every dense layer's int8 copy is exact (see `int8.rs`).
    pub fn int8_exact(&self) -> bool {
        self.dense_layers().all(|lin| lin.q8.exact())
    }

    /// Whether every dense layer can multiply quantised activations
    /// ([`DenseMath::Int8`]).
    pub fn takes_quantized(&self) -> bool {
        self.dense_layers().all(|lin| lin.q8.takes_quantized())
    }

    /// Bytes of the int8 weights and their scales.
    pub fn int8_bytes(&self) -> usize {
        self.dense_layers().map(|lin| lin.q8.bytes()).sum()
    }

    pub fn vocab_rows(&self) -> usize {
        self.words.rows
    }

    /// Reads word `id`'s row into `out`, through `bytes` (the caller's
    /// scratch, reused across a sequence's tokens).
    fn word_row(&self, id: u32, out: &mut [f32], bytes: &mut Vec<u8>) -> Result<(), EmbedError> {
        let h = out.len();
        let es = dtype_size(self.words.dtype);
        let id = (id as usize).min(self.words.rows - 1);
        let start = self.words.offset + (id * h * es) as u64;
        bytes.resize(h * es, 0);
        self.file
            .read_exact_at(bytes, start)
            .map_err(|e| model_err(&self.dir, format!("model.safetensors: {e}")))?;
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
        Ok(())
    }

    /// Runs token sequences (specials included, each no longer than
    /// [`BertConfig::max_tokens`]) packed back to back without padding, and
    /// returns the final hidden states, row-major [total tokens, H].
    /// `math` says how the dense layers multiply.
    ///
    /// Activations live in a handful of buffers the thread keeps from pass to
    /// pass (`scratch.rs`); the dense layers write into them, everything else
    /// is a fused loop over rows run on rayon's pool.
    pub fn forward(&self, seqs: &[&[u32]], math: DenseMath) -> Result<Vec<f32>, EmbedError> {
        // Run on rayon's pool: every parallel step below then starts on a
        // worker instead of being injected from outside (see
        // `Embedder::embed`).
        if rayon::current_thread_index().is_none() {
            return rayon::scope(|_| self.forward(seqs, math));
        }
        let h = self.hidden();
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        if total == 0 {
            return Ok(Vec::new());
        }
        let off = self.config.position_offset();
        let eps = self.config.layer_norm_eps as f32;
        let mut spans = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in seqs {
            spans.push((start, s.len()));
            start += s.len();
        }
        let mut x = vec![0f32; total * h];
        {
            let mut parts = Vec::with_capacity(seqs.len());
            let mut rest = x.as_mut_slice();
            for s in seqs {
                let (head, tail) = rest.split_at_mut(s.len() * h);
                parts.push((head, *s));
                rest = tail;
            }
            parts
                .into_par_iter()
                .try_for_each(|(rows, seq)| -> Result<(), EmbedError> {
                    let mut bytes = Vec::new();
                    for (t, (&id, row)) in seq.iter().zip(rows.chunks_exact_mut(h)).enumerate() {
                        self.word_row(id, row, &mut bytes)?;
                        let pt = &self.pos_type[(t + off) * h..(t + off + 1) * h];
                        for (r, p) in row.iter_mut().zip(pt) {
                            *r += p;
                        }
                        kernels::layer_norm(row, &self.eln_w, &self.eln_b, eps);
                    }
                    Ok(())
                })?;
        }

        let ff = self.config.intermediate_size;
        let mut qkv = scratch::floats(total * 3 * h, 0.0);
        let mut ctx = scratch::floats(total * h, 0.0);
        let mut tmp = scratch::floats(total * h, 0.0);
        let mut mid = scratch::floats(total * ff, 0.0);
        let (h_rows, ff_rows) = (rows_per_task(total, h), rows_per_task(total, ff));
        for layer in &self.layers {
            layer.qkv.forward(&x, &mut qkv, math);
            self.attention(&qkv, &spans, &mut ctx);
            layer.ao.forward(&ctx, &mut tmp, math);
            x.par_chunks_mut(h * h_rows)
                .zip(tmp.par_chunks(h * h_rows))
                .for_each(|(xs, ts)| {
                    for (row, add) in xs.chunks_exact_mut(h).zip(ts.chunks_exact(h)) {
                        kernels::add_layer_norm(row, add, &layer.aln_w, &layer.aln_b, eps);
                    }
                });
            layer.fi.forward(&x, &mut mid, math);
            mid.par_chunks_mut(ff * ff_rows)
                .for_each(|m| kernels::gelu_in_place(m, self.tanh_gelu));
            layer.fo.forward(&mid, &mut tmp, math);
            x.par_chunks_mut(h * h_rows)
                .zip(tmp.par_chunks(h * h_rows))
                .for_each(|(xs, ts)| {
                    for (row, add) in xs.chunks_exact_mut(h).zip(ts.chunks_exact(h)) {
                        kernels::add_layer_norm(row, add, &layer.oln_w, &layer.oln_b, eps);
                    }
                });
        }
        for buffer in [qkv, ctx, tmp, mid] {
            scratch::keep_floats(buffer);
        }
        Ok(x)
    }

    /// The same encoder written with plain candle tensor ops (the previous
    /// implementation, f32): the reference the fused path is tested against.
    #[cfg(test)]
    pub(crate) fn forward_reference(&self, seqs: &[&[u32]]) -> candle_core::Result<Vec<f32>> {
        use candle_core::IndexOp;
        let dev = Device::Cpu;
        let h = self.hidden();
        let off = self.config.position_offset();
        let eps = self.config.layer_norm_eps as f32;
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let mut x = vec![0f32; total * h];
        let mut rows = x.chunks_exact_mut(h);
        for s in seqs {
            for (t, &id) in s.iter().enumerate() {
                let row = rows.next().unwrap();
                self.word_row(id, row, &mut Vec::new())
                    .expect("model file readable");
                for (r, p) in row.iter_mut().zip(&self.pos_type[(t + off) * h..]) {
                    *r += p;
                }
            }
        }
        let vt = |v: &[f32]| Tensor::from_slice(v, (v.len(),), &dev);
        let lin = |x: &Tensor, l: &Linear| -> candle_core::Result<Tensor> {
            x.matmul(&Tensor::from_slice(l.weights_t(), (l.inp, l.out), &dev)?)?
                .broadcast_add(&vt(&l.b)?)
        };
        let ln =
            |x: &Tensor, w: &[f32], b: &[f32]| candle_nn::ops::layer_norm(x, &vt(w)?, &vt(b)?, eps);
        let mut x = ln(
            &Tensor::from_vec(x, (total, h), &dev)?,
            &self.eln_w,
            &self.eln_b,
        )?;
        let nh = self.config.num_attention_heads;
        let hd = h / nh;
        let scale = 1.0 / (hd as f64).sqrt();
        for layer in &self.layers {
            let qkv = lin(&x, &layer.qkv)?;
            let mut ctx = Vec::new();
            let mut start = 0;
            for s in seqs {
                let len = s.len();
                let s = qkv
                    .narrow(0, start, len)?
                    .reshape((len, 3, nh, hd))?
                    .permute((1, 2, 0, 3))?;
                start += len;
                let q = (s.i(0)?.contiguous()? * scale)?;
                let k = s.i(1)?.contiguous()?;
                let v = s.i(2)?.contiguous()?;
                let probs = candle_nn::ops::softmax_last_dim(&q.matmul(&k.t()?)?)?;
                ctx.push(probs.matmul(&v)?.transpose(0, 1)?.reshape((len, h))?);
            }
            let ctx = Tensor::cat(&ctx, 0)?;
            x = ln(&(x + lin(&ctx, &layer.ao)?)?, &layer.aln_w, &layer.aln_b)?;
            let inner = lin(&x, &layer.fi)?;
            let mid = if self.tanh_gelu {
                inner.gelu()?
            } else {
                inner.gelu_erf()?
            };
            x = ln(&(x + lin(&mid, &layer.fo)?)?, &layer.oln_w, &layer.oln_b)?;
        }
        x.flatten_all()?.to_vec1::<f32>()
    }

    /// Self-attention within each sequence (no padding, no mask): one work
    /// item per (sequence, head) reading Q, K and V in place from the packed
    /// `qkv` rows, writing its own block of `ctx`. Short sequences use plain
    /// loops, longer ones two small single-threaded GEMMs with the softmax
    /// in between. Items run in parallel when there is enough of them to
    /// pay for it.
    fn attention(&self, qkv: &[f32], spans: &[(usize, usize)], ctx: &mut [f32]) {
        let h = self.hidden();
        let nh = self.config.num_attention_heads;
        let row = 3 * h;
        let out = SharedMut(ctx.as_mut_ptr());
        assert!(spans
            .iter()
            .all(|&(s, l)| (s + l) * row <= qkv.len() && (s + l) * h <= ctx.len()));
        let item = |&(start, len, head): &(usize, usize, usize)| {
            // SAFETY: bounds asserted above; the block (rows
            // start..start+len, the head's columns) of `ctx` belongs to
            // this item alone.
            unsafe { self.attend(qkv, start, len, head, out) }
        };
        let items: Vec<(usize, usize, usize)> = spans
            .iter()
            .flat_map(|&(start, len)| (0..nh).map(move |head| (start, len, head)))
            .collect();
        // Multiply-adds of the whole step: below ~64k (a query of under
        // ten tokens) it runs on this thread; otherwise tasks get at least
        // ~32k each, so rayon's hand-offs stay small next to the work.
        let work: usize = spans.iter().map(|&(_, len)| len * len * 2 * h).sum();
        if work < 1 << 16 {
            items.iter().for_each(item);
        } else {
            let per_item = (work / items.len()).max(1);
            items
                .par_iter()
                .with_min_len((1usize << 15).div_ceil(per_item))
                .for_each(item);
        }
    }

    /// One (sequence, head) of [`Encoder::attention`].
    ///
    /// # Safety
    /// Rows `start..start + len` of `qkv` ([_, 3H]) exist and `out` points
    /// to a [_, H] matrix with those rows, whose `head` columns nobody else
    /// touches meanwhile.
    unsafe fn attend(&self, qkv: &[f32], start: usize, len: usize, head: usize, out: SharedMut) {
        thread_local! {
            static SCORES: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        let h = self.hidden();
        let nh = self.config.num_attention_heads;
        let hd = h / nh;
        let scale = 1.0 / (hd as f32).sqrt();
        let row = 3 * h;
        SCORES.with(|cell| {
            let mut scratch = cell.borrow_mut();
            // Scores [len, len] (GEMM path) or [len, lenp] with Kᵀ
            // [hd, lenp] and one scaled query row [hd] (direct path); lenp
            // rounds len up to whole vectors, the extra keys being zeros.
            let lenp = len.next_multiple_of(8);
            let need = len * lenp + hd * lenp + hd;
            if scratch.len() < need {
                scratch.resize(need, 0.0);
            }
            let q = qkv[start * row + head * hd..].as_ptr();
            let k = q.add(h);
            let v = q.add(2 * h);
            let o = out.ptr().add(start * h + head * hd);
            if len <= self.direct_attention_max_len {
                // With K transposed, scores and outputs are both weighted
                // sums of contiguous rows (`kernels::weighted_rows`): no
                // horizontal sums, accumulators in registers.
                let (s, rest) = scratch.split_at_mut(len * lenp);
                let (kt, qs) = rest.split_at_mut(hd * lenp);
                let qs = &mut qs[..hd];
                for (d, ktd) in kt.chunks_exact_mut(lenp).enumerate() {
                    for (j, kv) in ktd[..len].iter_mut().enumerate() {
                        *kv = *k.add(j * row + d);
                    }
                    ktd[len..].fill(0.0);
                }
                let vs = std::slice::from_raw_parts(v, (len - 1) * row + hd);
                for (i, si) in s.chunks_exact_mut(lenp).enumerate() {
                    let qi = std::slice::from_raw_parts(q.add(i * row), hd);
                    for (a, &b) in qs.iter_mut().zip(qi) {
                        *a = b * scale;
                    }
                    kernels::weighted_rows(si, qs, kt, lenp);
                    let si = &mut si[..len];
                    kernels::softmax_in_place(si);
                    let oi = std::slice::from_raw_parts_mut(o.add(i * h), hd);
                    kernels::weighted_rows(oi, si, vs, row);
                }
                return;
            }
            let s = &mut scratch[..len * len];
            // scores = scale · Q Kᵀ
            gemm::gemm(
                len,
                len,
                hd,
                s.as_mut_ptr(),
                1,
                len as isize,
                false,
                q,
                1,
                row as isize,
                k,
                row as isize,
                1,
                0.0,
                scale,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
            for r in s.chunks_exact_mut(len) {
                kernels::softmax_in_place(r);
            }
            // ctx block = probabilities · V
            gemm::gemm(
                len,
                hd,
                len,
                o,
                1,
                h as isize,
                false,
                s.as_ptr(),
                1,
                len as isize,
                v,
                1,
                row as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        });
    }
}
