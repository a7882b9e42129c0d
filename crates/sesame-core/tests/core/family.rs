//! The BERT family against `transformers`: `../shared/models/tiny-{roberta,electra,distilbert}` (random-weight
//! `*ForSequenceClassification` checkpoints with their own tokenizers) on the 8 pairs of
//! `../shared/golden/family_public.safetensors`: token ids exactly, hidden states within 1e-4 at real tokens
//! (5e-3 at padding), logits within 1e-4.

use sesame_core::ops::host::to_host;
use sesame_core::{
    BertTokenizer, Encoded, EncodedBatch, Family, MissingWeights, SequenceClassifier, SesameConfig,
};
use sesame_testkit::{masked_max_diff, max_diff, shared_dir, CpuBackend, Golden};

const REAL_TOL: f32 = 1e-4;
const PAD_TOL: f32 = 5e-3;
const LOGIT_TOL: f32 = 1e-4;

fn pairs(golden: &Golden) -> Vec<(String, String)> {
    serde_json::from_str(&golden.metadata("pairs")).expect("pairs metadata")
}

/// Tokenises the golden pairs with the checkpoint's own tokenizer, padded to the golden width.
fn encode(kind: &str, golden: &Golden) -> EncodedBatch {
    let dir = shared_dir().join("models").join(format!("tiny-{kind}"));
    let tokenizer = BertTokenizer::from_dir(&dir, 128).expect("tokenizer");
    let encoded: Vec<Encoded> = pairs(golden)
        .iter()
        .map(|(a, b)| tokenizer.encode(a, Some(b)).expect("encode"))
        .collect();
    let (shape, _) = golden.i64(&format!("{kind}.input_ids"));
    EncodedBatch::pad(&encoded, tokenizer.pad_id(), shape[1])
}

fn check_family(kind: &str, family: Family) {
    let golden = Golden::open("family_public.safetensors");
    let batch = encode(kind, &golden);
    assert_eq!(
        batch.input_ids,
        golden.i64(&format!("{kind}.input_ids")).1,
        "{kind}: token ids"
    );
    assert_eq!(
        batch.attention_mask,
        golden.i64(&format!("{kind}.attention_mask")).1,
        "{kind}: attention mask"
    );
    let types = format!("{kind}.token_type_ids");
    if golden.names().contains(&types) {
        assert_eq!(batch.token_type_ids, golden.i64(&types).1, "{kind}: types");
    } else {
        assert!(
            batch.token_type_ids.iter().all(|&t| t == 0),
            "{kind}: types"
        );
    }

    let dir = shared_dir().join("models").join(format!("tiny-{kind}"));
    let (model, report) = SequenceClassifier::<CpuBackend>::from_pretrained(
        &dir,
        &SesameConfig::baseline(2),
        MissingWeights::Refuse,
        &Default::default(),
    )
    .expect("checkpoint loads");
    assert_eq!(model.family(), family);
    // The trained head is part of the checkpoint: nothing fresh, missing or left over.
    assert!(
        report.missing.is_empty(),
        "{kind}: missing {:?}",
        report.missing
    );
    assert!(report.fresh.is_empty(), "{kind}: fresh {:?}", report.fresh);
    assert!(
        report.unexpected.is_empty(),
        "{kind}: unexpected {:?}",
        report.unexpected
    );
    assert_eq!(report.stripped_prefix, format!("{}.", family.prefix()));

    let input = batch.to_input(&Default::default());
    let encoded = model.bert.encode(input.clone(), false).expect("encode");
    for (i, h) in encoded.encoded.hidden_states.iter().enumerate() {
        let (shape, want) = golden.f32(&format!("{kind}.hidden_states.{i}"));
        let got = to_host(h.clone()).expect("host");
        let (real, pad) = masked_max_diff(&got, &want, &batch.attention_mask, shape[2]);
        eprintln!("{kind} hidden_states.{i}: max diff real {real:.3e}, padding {pad:.3e}");
        assert!(real <= REAL_TOL, "{kind} hidden_states.{i}: {real}");
        assert!(pad <= PAD_TOL, "{kind} hidden_states.{i} padding: {pad}");
    }
    let logits = to_host(model.forward(input).expect("forward").logits).expect("host");
    let (_, want) = golden.f32(&format!("{kind}.logits"));
    let diff = max_diff(&logits, &want);
    eprintln!("{kind} logits: max diff {diff:.3e}");
    assert!(diff <= LOGIT_TOL, "{kind} logits: {diff}");
}

#[test]
fn roberta_matches_transformers() {
    check_family("roberta", Family::Roberta);
}

#[test]
fn electra_matches_transformers() {
    check_family("electra", Family::Electra);
}

#[test]
fn distilbert_matches_transformers() {
    check_family("distilbert", Family::DistilBert);
}
