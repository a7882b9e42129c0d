//! The BERT family: one module tree, switched by `config.json`'s `model_type`.
//!
//! RoBERTa, XLM-R, ELECTRA (discriminator) and DistilBERT are BERT's post-LayerNorm encoder with small
//! differences: where position ids start, whether token types exist, an embedding projection, the pooler, the
//! classification head, and the names of the state-dict keys. [`Family`] is where each difference is stated;
//! the modules ask it instead of testing the model type themselves.

use serde::{Deserialize, Serialize};

/// An encoder architecture sesame reads, named by its Hugging Face `model_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Family {
    #[serde(rename = "bert")]
    Bert,
    #[serde(rename = "roberta")]
    Roberta,
    #[serde(rename = "xlm-roberta")]
    XlmRoberta,
    #[serde(rename = "electra")]
    Electra,
    #[serde(rename = "distilbert")]
    DistilBert,
    /// Not a member of the BERT family: its own module tree (`crate::modernbert`), named here for its keys.
    #[serde(rename = "modernbert")]
    ModernBert,
    /// DeBERTa-v2 and -v3: not a member of the BERT family either (`crate::deberta`).
    #[serde(rename = "deberta-v2")]
    DebertaV2,
}

/// The sequence-classification head of a family, as its `*ForSequenceClassification` builds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadKind {
    /// BERT: the encoder's pooler (dense → tanh on the first token) → dropout → `classifier`.
    Pooler,
    /// RoBERTa, XLM-R: first token → dropout → `classifier.dense` → tanh → dropout → `classifier.out_proj`.
    DenseTanh,
    /// ELECTRA: first token → dropout → `classifier.dense` → GELU → dropout → `classifier.out_proj`.
    DenseGelu,
    /// DistilBERT: first token → `pre_classifier` → ReLU → dropout → `classifier`.
    DenseRelu,
    /// ModernBERT: `[CLS]` or the mean → `head.dense` → activation → `head.norm` → dropout → `classifier`
    /// (`crate::modernbert::head`).
    PooledDenseNorm,
    /// DeBERTa: first token → dropout → `pooler.dense` → activation → dropout → `classifier`
    /// (`crate::deberta::head`).
    ContextPooler,
}

impl Family {
    /// Every family, in the order error messages list them.
    pub const ALL: [Family; 7] = [
        Family::Bert,
        Family::Roberta,
        Family::XlmRoberta,
        Family::Electra,
        Family::DistilBert,
        Family::ModernBert,
        Family::DebertaV2,
    ];

    /// Whether the model is BERT's post-LayerNorm encoder with this family's switches (`BertConfig`,
    /// `BertModel`); ModernBERT and DeBERTa have module trees of their own.
    pub fn is_bert_like(self) -> bool {
        self.own_config().is_none()
    }

    /// The config type that reads a family with a module tree of its own.
    pub fn own_config(self) -> Option<&'static str> {
        match self {
            Family::ModernBert => Some("sesame_core::modernbert::ModernBertConfig"),
            Family::DebertaV2 => Some("sesame_core::deberta::DebertaV2Config"),
            _ => None,
        }
    }

    /// The family of a `model_type`, `None` for one sesame does not implement.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.model_type() == model_type)
    }

    /// Hugging Face's `model_type`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::XlmRoberta => "xlm-roberta",
            Family::Electra => "electra",
            Family::DistilBert => "distilbert",
            Family::ModernBert => "modernbert",
            Family::DebertaV2 => "deberta-v2",
        }
    }

    /// The attribute under which `*ForSequenceClassification` keeps the encoder: the prefix of its keys.
    /// (XLM-R reuses RoBERTa's modules, names included.)
    pub fn prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta | Family::XlmRoberta => "roberta",
            Family::Electra => "electra",
            Family::DistilBert => "distilbert",
            Family::ModernBert => "model",
            Family::DebertaV2 => "deberta",
        }
    }

    /// The class of `transformers` that holds this family's bare encoder (what a load report speaks of).
    pub fn model_class(self) -> &'static str {
        match self {
            Family::Bert => "BertModel",
            Family::Roberta => "RobertaModel",
            Family::XlmRoberta => "XLMRobertaModel",
            Family::Electra => "ElectraModel",
            Family::DistilBert => "DistilBertModel",
            Family::ModernBert => "ModernBertModel",
            Family::DebertaV2 => "DebertaV2Model",
        }
    }

    /// The `architectures` entry of an exported classifier's `config.json`.
    pub fn classifier_architecture(self) -> &'static str {
        match self {
            Family::Bert => "BertForSequenceClassification",
            Family::Roberta => "RobertaForSequenceClassification",
            Family::XlmRoberta => "XLMRobertaForSequenceClassification",
            Family::Electra => "ElectraForSequenceClassification",
            Family::DistilBert => "DistilBertForSequenceClassification",
            Family::ModernBert => "ModernBertForSequenceClassification",
            Family::DebertaV2 => "DebertaV2ForSequenceClassification",
        }
    }

    /// Only BERT's classifier uses a pooler; the others' checkpoints have none (or one their heads ignore).
    pub fn has_pooler(self) -> bool {
        self == Family::Bert
    }

    /// RoBERTa and XLM-R count positions from `padding_idx + 1` over the real tokens (padding keeps
    /// `padding_idx`), so their position table is `padding_idx + 1` rows longer than the longest input.
    pub fn positions_after_padding(self) -> bool {
        matches!(self, Family::Roberta | Family::XlmRoberta)
    }

    /// DistilBERT has no token-type embeddings.
    pub fn has_token_types(self) -> bool {
        self != Family::DistilBert
    }

    pub fn head(self) -> HeadKind {
        match self {
            Family::Bert => HeadKind::Pooler,
            Family::Roberta | Family::XlmRoberta => HeadKind::DenseTanh,
            Family::Electra => HeadKind::DenseGelu,
            Family::DistilBert => HeadKind::DenseRelu,
            Family::ModernBert => HeadKind::PooledDenseNorm,
            Family::DebertaV2 => HeadKind::ContextPooler,
        }
    }

    /// Whole-segment renames from BERT's key names (after the prefix) to this family's, applied in order.
    fn renames(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Family::Bert => &[("classifier.out_proj", "classifier")],
            Family::Roberta | Family::XlmRoberta | Family::Electra => &[],
            Family::DistilBert => &[
                ("encoder.layer", "transformer.layer"),
                ("attention.self.query", "attention.q_lin"),
                ("attention.self.key", "attention.k_lin"),
                ("attention.self.value", "attention.v_lin"),
                ("attention.self", "attention"),
                ("attention.output.dense", "attention.out_lin"),
                ("attention.output.LayerNorm", "sa_layer_norm"),
                ("intermediate.dense", "ffn.lin1"),
                ("output.dense", "ffn.lin2"),
                ("output.LayerNorm", "output_layer_norm"),
                ("classifier.dense", "pre_classifier"),
                ("classifier.out_proj", "classifier"),
            ],
            // The checkpoint's capitalised names, and the head's two levels flattened.
            Family::ModernBert => &[
                ("attn.wqkv", "attn.Wqkv"),
                ("attn.wo", "attn.Wo"),
                ("mlp.wi", "mlp.Wi"),
                ("mlp.wo", "mlp.Wo"),
                ("classifier.head", "head"),
                ("classifier.classifier", "classifier"),
            ],
            // The head's two levels flattened.
            Family::DebertaV2 => &[
                ("classifier.pooler", "pooler"),
                ("classifier.classifier", "classifier"),
            ],
        }
    }

    /// A key in BERT's naming (`bert.encoder.layer.0.attention.self.query.weight`, `classifier.out_proj.bias`)
    /// in this family's (`distilbert.transformer.layer.0.attention.q_lin.weight`, `classifier.bias`).
    pub fn rename(self, bert_key: &str) -> String {
        // The classifier's encoder field is named as BERT's attribute, so BERT's prefix is the module path's.
        let (prefixed, rest) = match bert_key
            .strip_prefix(Family::Bert.prefix())
            .and_then(|rest| rest.strip_prefix('.'))
        {
            Some(rest) => (true, rest),
            None => (false, bert_key),
        };
        // Dots around the key make every match a match of whole segments.
        let mut key = format!(".{rest}.");
        for (from, to) in self.renames() {
            key = key.replacen(&format!(".{from}."), &format!(".{to}."), 1);
        }
        let key = &key[1..key.len() - 1];
        if prefixed {
            format!("{}.{key}", self.prefix())
        } else {
            key.to_string()
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_each_familys_state_dict() {
        let cases = [
            (
                Family::Roberta,
                "bert.encoder.layer.1.attention.self.query.weight",
                "roberta.encoder.layer.1.attention.self.query.weight",
            ),
            (
                Family::Electra,
                "bert.embeddings_project.weight",
                "electra.embeddings_project.weight",
            ),
            (
                Family::DistilBert,
                "bert.encoder.layer.0.attention.output.LayerNorm.weight",
                "distilbert.transformer.layer.0.sa_layer_norm.weight",
            ),
            (
                Family::DistilBert,
                "bert.encoder.layer.0.output.dense.bias",
                "distilbert.transformer.layer.0.ffn.lin2.bias",
            ),
            (
                Family::DistilBert,
                "bert.encoder.layer.0.attention.self.localness.position_fc.weight",
                "distilbert.transformer.layer.0.attention.localness.position_fc.weight",
            ),
            (
                Family::DistilBert,
                "classifier.dense.weight",
                "pre_classifier.weight",
            ),
            (
                Family::DistilBert,
                "classifier.out_proj.weight",
                "classifier.weight",
            ),
            (Family::Bert, "classifier.out_proj.bias", "classifier.bias"),
            (
                Family::Roberta,
                "classifier.out_proj.bias",
                "classifier.out_proj.bias",
            ),
            (
                Family::Bert,
                "embeddings.LayerNorm.weight",
                "embeddings.LayerNorm.weight",
            ),
            (
                Family::DistilBert,
                "embeddings.LayerNorm.weight",
                "embeddings.LayerNorm.weight",
            ),
        ];
        for (family, bert, theirs) in cases {
            assert_eq!(family.rename(bert), theirs, "{family}");
        }
    }

    #[test]
    fn model_types_round_trip() {
        for f in Family::ALL {
            assert_eq!(Family::from_model_type(f.model_type()), Some(f));
        }
        assert_eq!(
            Family::from_model_type("modernbert"),
            Some(Family::ModernBert)
        );
        assert_eq!(
            Family::from_model_type("deberta-v2"),
            Some(Family::DebertaV2)
        );
        assert_eq!(Family::from_model_type("funnel"), None);
        assert_eq!(
            Family::ModernBert.rename("bert.layers.2.attn.wqkv.weight"),
            "model.layers.2.attn.Wqkv.weight"
        );
        assert_eq!(
            Family::ModernBert.rename("classifier.head.norm.weight"),
            "head.norm.weight"
        );
        assert_eq!(
            Family::DebertaV2.rename("bert.encoder.layer.1.attention.self.query_proj.bias"),
            "deberta.encoder.layer.1.attention.self.query_proj.bias"
        );
        assert_eq!(
            Family::DebertaV2.rename("classifier.pooler.dense.weight"),
            "pooler.dense.weight"
        );
    }
}
