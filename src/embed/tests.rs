//! Unit tests on a tiny random-weight model built in code: a complete
//! Hugging Face folder (config, safetensors, a Precompiled/Metaspace/Unigram
//! tokenizer.json made by the importer's own functions).

use std::path::Path;

use proptest::prelude::*;
use serde_json::json;

use super::*;

const H: usize = 32;
const FF: usize = 64;
const LAYERS: usize = 2;
const HEADS: usize = 4;

/// Deterministic pseudo-random numbers for test weights and inputs (no RNG
/// dependency needed); the int8 kernel's tests use it too.
pub(super) struct Lcg(pub u64);
impl Lcg {
    /// Uniform in [-0.5, 0.5).
    pub fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    pub fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
    /// Uniform in [-0.2, 0.2): the tiny model's weights.
    fn weights(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next() * 0.4).collect()
    }
}

fn pieces() -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = ["<s>", "<pad>", "</s>", "<unk>"]
        .iter()
        .map(|p| (p.to_string(), 0.0))
        .collect();
    let words = [
        "\u{2581}",
        "\u{2581}a",
        "\u{2581}ab",
        "a",
        "b",
        "c",
        "\u{2581}the",
        "the",
        "\u{2581}政",
        "政",
        "策",
        "政策",
        "\u{2581}1",
        "1",
        "2",
        "3",
        "12",
        "\u{2581}12",
        "x",
        "y",
        "\u{2581}x",
        ",",
        "。",
        "\u{2581}query",
        ":",
        "\u{2581}passage",
        "q",
        "u",
        "e",
        "r",
        "p",
        "s",
        "g",
        "t",
        "h",
    ];
    for (i, w) in words.iter().enumerate() {
        v.push((w.to_string(), -1.0 - (i as f64) * 0.25));
    }
    v.push(("<mask>".into(), 0.0));
    v
}

/// Writes a tiny model folder; `roberta` switches to XLM-R position ids.
fn tiny_model(dir: &Path, roberta: bool, extra: Option<serde_json::Value>) {
    let p = pieces();
    let vocab = p.len() + 3; // padded table, like e5's 250037 rows
    let max_pos = if roberta { 42 } else { 40 };
    let config = json!({
        "model_type": if roberta { "xlm-roberta" } else { "bert" },
        "hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
        "intermediate_size": FF, "max_position_embeddings": max_pos, "type_vocab_size": 1,
        "vocab_size": vocab, "layer_norm_eps": 1e-12, "hidden_act": "gelu",
        "pad_token_id": if roberta { 1 } else { 0 }, "_name_or_path": "tiny-e5-test"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    if let Some(extra) = extra {
        std::fs::write(dir.join("zhengce.json"), extra.to_string()).unwrap();
    }

    let mut rng = Lcg(7);
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = vec![
        (
            "embeddings.word_embeddings.weight".into(),
            vec![vocab, H],
            rng.weights(vocab * H),
        ),
        (
            "embeddings.position_embeddings.weight".into(),
            vec![max_pos, H],
            rng.weights(max_pos * H),
        ),
        (
            "embeddings.token_type_embeddings.weight".into(),
            vec![1, H],
            rng.weights(H),
        ),
        ("embeddings.LayerNorm.weight".into(), vec![H], vec![1.0; H]),
        ("embeddings.LayerNorm.bias".into(), vec![H], vec![0.0; H]),
    ];
    for l in 0..LAYERS {
        let pre = format!("encoder.layer.{l}.");
        for (name, out, inp) in [
            ("attention.self.query", H, H),
            ("attention.self.key", H, H),
            ("attention.self.value", H, H),
            ("attention.output.dense", H, H),
            ("intermediate.dense", FF, H),
            ("output.dense", H, FF),
        ] {
            tensors.push((
                format!("{pre}{name}.weight"),
                vec![out, inp],
                rng.weights(out * inp),
            ));
            tensors.push((format!("{pre}{name}.bias"), vec![out], rng.weights(out)));
        }
        for ln in ["attention.output.LayerNorm", "output.LayerNorm"] {
            tensors.push((format!("{pre}{ln}.weight"), vec![H], vec![1.0; H]));
            tensors.push((format!("{pre}{ln}.bias"), vec![H], vec![0.0; H]));
        }
    }
    write_safetensors(&dir.join("model.safetensors"), &tensors);

    // A slice of nmt_nfkc: full-width forms to ASCII, tab/newline to space,
    // a control character dropped.
    let mut map: Vec<(u32, Vec<u32>)> = (0xFF01..=0xFF5D).map(|c| (c, vec![c - 0xFEE0])).collect();
    map.push((0x09, vec![0x20]));
    map.push((0x0A, vec![0x20]));
    map.push((0x3000, vec![0x20]));
    map.push((0x07, vec![]));
    let charsmap = precompiled_charsmap(&map).unwrap();
    use base64::Engine as _;
    let tok = json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(charsmap)},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u{2581}",
                          "prepend_scheme": "always", "split": true},
        "post_processor": {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "</s>", "type_id": 0}}],
            "pair": [],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
        "decoder": null,
        "model": {"type": "Unigram", "unk_id": 3, "vocab": p, "byte_fallback": false}
    });
    std::fs::write(dir.join("tokenizer.json"), tok.to_string()).unwrap();
}

/// Writes f32 tensors (name, shape, values) as a safetensors file.
fn write_safetensors(path: &Path, tensors: &[(String, Vec<usize>, Vec<f32>)]) {
    let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
        .iter()
        .map(|(n, s, d)| {
            let v = safetensors::tensor::TensorView::new(
                safetensors::Dtype::F32,
                s.clone(),
                bytemuck::cast_slice(d),
            )
            .unwrap();
            (n.clone(), v)
        })
        .collect();
    safetensors::tensor::serialize_to_file(views, None, path).unwrap();
}

/// Moves the encoder's dense weights onto a Q4_0 grid (per row, blocks of
/// 32 inputs: an f16 scale times integers in [-8, 7]), like the bundled
/// model's, whose int8 copy is then exact.
fn snap_dense_weights_to_q4_grid(dir: &Path) {
    let path = dir.join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    for (name, view) in st.tensors() {
        let mut data: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        let shape = view.shape().to_vec();
        if name.starts_with("encoder.layer") && name.ends_with(".weight") && shape.len() == 2 {
            for row in data.chunks_mut(shape[1]) {
                for block in row.chunks_mut(32) {
                    let maxabs = block.iter().fold(0f32, |m, x| m.max(x.abs()));
                    let d = half::f16::from_f32(maxabs / 8.0).to_f32();
                    for v in block.iter_mut() {
                        *v = (*v / d).round().clamp(-8.0, 7.0) * d;
                    }
                }
            }
        }
        tensors.push((name, shape, data));
    }
    write_safetensors(&path, &tensors);
}

fn load_tiny(roberta: bool, extra: Option<serde_json::Value>) -> (tempfile::TempDir, Embedder) {
    let dir = tempfile::tempdir().unwrap();
    tiny_model(dir.path(), roberta, extra);
    let e = Embedder::load(dir.path()).unwrap();
    (dir, e)
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The API and server share one loaded model across threads.
#[test]
fn embedder_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Embedder>();
}

#[test]
fn tiny_model_loads_with_the_direct_tokenizer_and_e5_prefixes() {
    let (_d, e) = load_tiny(false, None);
    assert_eq!(e.dim(), H);
    assert_eq!(e.max_tokens(), 40);
    let info = ModelInfo::of(&e);
    assert_eq!(info.tokenizer, "sentencepiece-unigram (direct)");
    assert_eq!(info.query_prefix, "query: ");
    assert!(e.model_id().starts_with("tiny-e5-test@"));
    // `query: ab` → <s> ▁query : ▁ab </s>
    let ids = e.token_ids("ab", TextKind::Query).unwrap();
    assert_eq!(ids.first(), Some(&0));
    assert_eq!(ids.last(), Some(&2));
    assert_eq!(
        e.count_tokens("ab"),
        e.token_ids("ab", TextKind::Passage).unwrap().len()
    );
}

#[test]
fn normalisation_spaces_and_unknown_characters() {
    let (_d, e) = load_tiny(false, None);
    let t = |s: &str| e.tokenizer.content_ids(s).unwrap();
    // Full-width forms fold to ASCII; runs of spaces, tabs and newlines
    // collapse; a control character disappears.
    assert_eq!(t("ａｂ"), t("ab"));
    assert_eq!(t("x \t\n  y"), t("x y"));
    assert_eq!(t("x\u{7}y"), t("xy"));
    assert_eq!(t("  ab"), t("ab"));
    // One <unk> per uncovered character, as sentencepiece does.
    assert_eq!(t("ab 日本語"), [t("ab"), vec![4, 3, 3, 3]].concat());
}

#[test]
fn vectors_are_unit_length_and_queries_differ_from_passages() {
    let (_d, e) = load_tiny(false, None);
    let q = e.embed_queries(&["政策 12", "the abc"]).unwrap();
    let p = e.embed_passages(&["政策 12"]).unwrap();
    for v in q.iter().chain(&p) {
        assert_eq!(v.len(), H);
        assert!((v.iter().map(|x| x * x).sum::<f32>().sqrt() - 1.0).abs() < 1e-5);
    }
    assert!(cos(&q[0], &p[0]) < 0.9999, "prefix must change the vector");
    assert!(e.embed_queries(&[]).unwrap().is_empty());
    assert_eq!(e.embed_queries(&[""]).unwrap()[0].len(), H);
}

#[test]
fn batching_and_packing_do_not_change_vectors() {
    let (_d, mut e) = load_tiny(false, None);
    // A small budget forces several forward passes of mixed lengths.
    e.set_batch_tokens(0);
    let texts = [
        "a",
        "政策 12 the abc x y",
        "abc, 123。",
        "x",
        "the the the the the the",
    ];
    let batch = e.embed_passages(&texts).unwrap();
    for (t, b) in texts.iter().zip(&batch) {
        let alone = &e.embed_passages(&[t]).unwrap()[0];
        assert!(cos(alone, b) > 0.99999, "{t}: {}", cos(alone, b));
    }
}

#[test]
fn long_texts_are_windowed_not_truncated() {
    let (_d, e) = load_tiny(false, None);
    let head = "ab ".repeat(120);
    let long_a = format!("{head} x x x");
    let long_b = format!("{head} 政策 政策 政策");
    assert!(e.count_tokens(&long_a) > 2 * e.max_tokens());
    let v = e.embed_passages(&[&long_a, &long_b, &head]).unwrap();
    // The tails lie beyond the first window: they must still count.
    assert!(cos(&v[0], &v[1]) < 0.9999);
    assert!(cos(&v[0], &v[2]) < 0.9999);
}

#[test]
fn roberta_models_number_positions_from_padding_idx_plus_one() {
    let (_d, e) = load_tiny(true, None);
    assert_eq!(e.config().position_offset(), 2);
    assert_eq!(e.max_tokens(), 40);
    // A text filling whole windows runs without reading past the table.
    let text = "ab ".repeat(100);
    assert_eq!(e.embed_passages(&[&text]).unwrap()[0].len(), H);
}

#[test]
fn zhengce_json_sets_prefixes_and_cls_pooling() {
    let extra = json!({"query_prefix": "", "passage_prefix": "", "pooling": "cls", "name": "tiny"});
    let (_d, e) = load_tiny(false, Some(extra));
    assert_eq!(e.settings().pooling, Pooling::Cls);
    assert_eq!(
        e.embed_queries(&["ab"]).unwrap(),
        e.embed_passages(&["ab"]).unwrap()
    );
    assert!(e.model_id().starts_with("tiny@"));
}

#[test]
fn broken_folders_give_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = Embedder::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("config.json"), "{err}");
    tiny_model(dir.path(), false, None);
    std::fs::write(
        dir.path().join("model.safetensors"),
        b"not a safetensors file",
    )
    .unwrap();
    let err = Embedder::load(dir.path()).err().unwrap().to_string();
    assert!(err.contains("model.safetensors"), "{err}");
    let err = import_e5_image(&dir.path().join("config.json"), &dir.path().join("out"))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("E5S1"), "{err}");
}

/// Both tokenizer backends over one tiny folder, built once.
fn tiny_tokenizers() -> &'static (TextTokenizer, TextTokenizer) {
    static T: std::sync::OnceLock<(TextTokenizer, TextTokenizer)> = std::sync::OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path(), false, None);
        let bytes = std::fs::read(dir.path().join("tokenizer.json")).unwrap();
        (
            TextTokenizer::load(dir.path()).unwrap(),
            TextTokenizer::load_hf(&bytes).unwrap(),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// The direct tokenizer and the `tokenizers` crate (with fused <unk>
    /// runs split) agree on arbitrary mixes of known pieces, unknown
    /// characters, full-width forms and whitespace.
    #[test]
    fn direct_tokenizer_matches_tokenizers_crate(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("a"), Just("ab"), Just("the"), Just("政策"), Just("12"), Just("x"),
                Just(" "), Just("  "), Just("\t"), Just("\n"), Just("ａ"), Just("１２"),
                Just("日"), Just("ü"), Just("\u{3000}"), Just(","), Just("。"), Just("z"),
            ],
            0..24,
        )
    ) {
        let (direct, hf) = tiny_tokenizers();
        let text: String = parts.concat();
        prop_assert_eq!(direct.content_ids(&text).unwrap(), hf.content_ids(&text).unwrap());
    }
}

/// The fused forward (GEMMs into reused buffers, hand-written attention,
/// layer norm, GELU and softmax) computes what the plain candle-op encoder
/// computes, on packed batches of mixed lengths, for BERT and RoBERTa
/// position numbering.
#[test]
fn fused_forward_matches_the_candle_op_reference() {
    // Attention with plain loops (short sequences) and with GEMMs.
    for (roberta, direct_max) in [(false, 64), (true, 64), (false, 0), (true, 0)] {
        let (_d, mut e) = load_tiny(roberta, None);
        e.encoder.direct_attention_max_len = direct_max;
        let seqs: Vec<Vec<u32>> = ["政策 12 the abc x y", "a", "abc, 123。 the the the the the"]
            .iter()
            .map(|t| e.token_ids(t, TextKind::Passage).unwrap())
            .collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let fast = e.encoder.forward(&refs, DenseMath::F32).unwrap();
        let plain = e.encoder.forward_reference(&refs).unwrap();
        assert_eq!(fast.len(), plain.len());
        let worst = fast
            .iter()
            .zip(&plain)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-4,
            "roberta={roberta} direct_max={direct_max}: max abs difference {worst}"
        );
    }
}

/// The int8 few-row path computes what the f32 GEMM path computes: to float
/// rounding when the weights sit on a Q4_0 grid (as the bundled model's
/// do), within int8 rounding for other weights; and the embedder picks it
/// by pass size.
#[test]
fn int8_forward_matches_the_f32_forward() {
    for q4 in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        tiny_model(dir.path(), false, None);
        if q4 {
            snap_dense_weights_to_q4_grid(dir.path());
        }
        let mut e = Embedder::load(dir.path()).unwrap();
        e.set_quantize_activations(false);
        assert_eq!(e.int8_exact(), q4);
        let seqs: Vec<Vec<u32>> = ["政策 12 the abc x y", "a", "abc, 123。 the the the the the"]
            .iter()
            .map(|t| e.token_ids(t, TextKind::Passage).unwrap())
            .collect();
        for n in 1..=seqs.len() {
            let refs: Vec<&[u32]> = seqs[..n].iter().map(Vec::as_slice).collect();
            let f = e.encoder.forward(&refs, DenseMath::F32).unwrap();
            let q = e.encoder.forward(&refs, DenseMath::Int8Weights).unwrap();
            let worst = f
                .iter()
                .zip(&q)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let limit = if q4 { 1e-4 } else { 0.05 };
            assert!(worst < limit, "q4={q4} n={n}: max abs difference {worst}");
        }
        let texts = ["政策 12 the abc x y", "a"];
        e.set_quantized_max_tokens(0);
        let f32_vecs = e.embed_queries(&texts).unwrap();
        e.set_quantized_max_tokens(usize::MAX);
        let int8_vecs = e.embed_queries(&texts).unwrap();
        for (a, b) in f32_vecs.iter().zip(&int8_vecs) {
            let c = cos(a, b);
            assert!(
                c > if q4 { 0.999_999 } else { 0.999 },
                "q4={q4}: cosine {c}"
            );
        }
        // Quantised activations: on Q4_0-grid weights every pass takes the
        // integer path, within activation rounding of f32; other weights
        // cannot, and keep the int8-weight path.
        e.set_quantize_activations(true);
        assert_eq!(
            e.dense_math(1000),
            if q4 {
                DenseMath::Int8
            } else {
                DenseMath::Int8Weights
            }
        );
        let q8_vecs = e.embed_queries(&texts).unwrap();
        for (a, b) in f32_vecs.iter().zip(&q8_vecs) {
            let c = cos(a, b);
            assert!(c > 0.999, "q4={q4} quantised activations: cosine {c}");
        }
    }
}

/// The activation is read by the names model configs use; one the encoder
/// does not implement fails when the config is read, naming the value.
#[test]
fn activations_are_read_by_name() {
    let config = |act: serde_json::Value| {
        let mut c = json!({
            "hidden_size": H, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
            "intermediate_size": FF, "max_position_embeddings": 40,
        });
        if !act.is_null() {
            c["hidden_act"] = act;
        }
        serde_json::from_value::<BertConfig>(c)
    };
    assert_eq!(config(json!(null)).unwrap().hidden_act, HiddenAct::Gelu);
    assert_eq!(config(json!("gelu")).unwrap().hidden_act, HiddenAct::Gelu);
    for tanh in ["gelu_new", "gelu_pytorch_tanh", "gelu_fast"] {
        assert_eq!(config(json!(tanh)).unwrap().hidden_act, HiddenAct::GeluTanh);
    }
    let e = config(json!("relu")).unwrap_err().to_string();
    assert!(e.contains("relu"), "{e}");
}
