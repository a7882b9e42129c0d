//! Tokenizer parity with the checkpoint's `tokenizer.json` as `transformers` runs it (golden ids), and the
//! `vocab.txt` fallback.

use sesame_core::{BertTokenizer, Encoded, EncodedBatch};
use sesame_testkit::{minilm_dir, shared_dir, temp_dir, Golden};

fn tricky_pairs() -> Vec<(String, String)> {
    vec![
        (
            "Café naïve résumé — “quoted” text… 東京 is in Japan!".into(),
            "Tokyo (東京) is the capital; e-mail: a.b@c.d".into(),
        ),
        (String::new(), "An empty first segment.".into()),
        (
            "UPPER lower MiXeD 12,345.67 $%^&*".into(),
            "word ".repeat(200),
        ),
    ]
}

fn rte_dev_pairs() -> Vec<(String, String)> {
    // GLUE files are tab-separated without quoting: `index, sentence1, sentence2, label`.
    let text =
        std::fs::read_to_string(shared_dir().join("data/glue/RTE/dev.tsv")).expect("RTE dev");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    assert_eq!(header[1..3], ["sentence1", "sentence2"]);
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (fields[1].to_string(), fields[2].to_string())
        })
        .collect()
}

fn check_all(tokenizer: &BertTokenizer) -> usize {
    let golden = Golden::open("tokenizer_rte_dev.safetensors");
    let mut cases: Vec<(String, (String, String))> = rte_dev_pairs()
        .into_iter()
        .enumerate()
        .map(|(i, p)| (format!("rte_dev.{i}"), p))
        .collect();
    cases.extend(
        tricky_pairs()
            .into_iter()
            .enumerate()
            .map(|(i, p)| (format!("tricky.{i}"), p)),
    );
    assert_eq!(
        cases.len(),
        golden.names().len(),
        "every golden encoding is checked"
    );
    for (name, (a, b)) in &cases {
        let (_, want) = golden.i64(name);
        let got = tokenizer.encode(a, Some(b)).expect("encodes");
        let got: Vec<i64> = got.input_ids.iter().map(|&i| i as i64).collect();
        assert_eq!(got, want, "{name}: ({a:?}, {b:?})");
    }
    cases.len()
}

#[test]
fn tokenizer_json_matches_all_280_golden_encodings() {
    let tokenizer = BertTokenizer::from_dir(minilm_dir(), 128).expect("tokenizer.json");
    assert_eq!(check_all(&tokenizer), 280);
}

#[test]
fn vocab_txt_fallback_matches_the_same_encodings() {
    let tokenizer =
        BertTokenizer::from_vocab(minilm_dir().join("vocab.txt"), true, 128).expect("vocab.txt");
    assert_eq!(check_all(&tokenizer), 280);
}

#[test]
fn pairs_get_token_types_and_truncate_longest_first() {
    let tokenizer = BertTokenizer::from_dir(minilm_dir(), 16).expect("tokenizer");
    let long = "word ".repeat(50);
    let e = tokenizer
        .encode("a short one", Some(&long))
        .expect("encodes");
    assert_eq!(e.len(), 16);
    // [CLS] a short one [SEP] → 5 tokens of type 0; the long segment is cut to the remaining 11 (10 + [SEP]).
    assert_eq!(e.token_type_ids.iter().filter(|&&t| t == 0).count(), 5);
    assert_eq!(e.token_type_ids.iter().filter(|&&t| t == 1).count(), 11);
    assert_eq!(e.input_ids[0], 101);
    assert_eq!(e.input_ids[15], 102);
}

#[test]
fn missing_tokenizer_files_are_an_error() {
    let dir = temp_dir("no-tokenizer");
    let err = BertTokenizer::from_dir(dir.path(), 128).unwrap_err();
    assert!(
        err.to_string()
            .contains("neither tokenizer.json nor vocab.txt"),
        "{err}"
    );
}

/// ModernBERT's byte-level BPE and DeBERTa-v3's Unigram/Metaspace `tokenizer.json` give `transformers`' ids,
/// attention masks and (DeBERTa) token types on the 8 golden pairs, padded to the golden width.
#[test]
fn modernbert_and_deberta_tokenizers_match_transformers() {
    let golden = Golden::open("modern_public.safetensors");
    let pairs: Vec<(String, String)> =
        serde_json::from_str(&golden.metadata("pairs")).expect("pairs metadata");
    for (kind, dir) in [
        ("modernbert", "tiny-modernbert"),
        ("deberta-v3", "tiny-deberta-v3"),
    ] {
        let tokenizer =
            BertTokenizer::from_dir(shared_dir().join("models").join(dir), 128).expect("tokenizer");
        let encoded: Vec<Encoded> = pairs
            .iter()
            .map(|(a, b)| tokenizer.encode(a, Some(b)).expect("encode"))
            .collect();
        let (shape, ids) = golden.i64(&format!("{kind}.input_ids"));
        let batch = EncodedBatch::pad(&encoded, tokenizer.pad_id(), shape[1]);
        assert_eq!(batch.input_ids, ids, "{kind}: token ids");
        assert_eq!(
            batch.attention_mask,
            golden.i64(&format!("{kind}.attention_mask")).1,
            "{kind}: attention mask"
        );
        if kind == "deberta-v3" {
            assert_eq!(
                batch.token_type_ids,
                golden.i64("deberta-v3.token_type_ids").1,
                "{kind}: token types"
            );
        }
    }
}
