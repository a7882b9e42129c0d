//! The fused operations under burn's autodiff: one graph node each ([`nodes`]), with a hand-written backward
//! pass that calls the inner backend's backward method (a kernel where the backend has one).

mod nodes;

use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::ops::{Backward, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::TensorMetadata;

use super::SesameBackend;
use nodes::{
    finish_dense, AttentionSoftmaxBackward, DenseBackward, GeluNode, HeadProduct,
    RelativeGatherBackward, ResidualLayerNormBackward, RopeBackward,
};

impl<B: SesameBackend, C: CheckpointStrategy> SesameBackend for Autodiff<B, C> {
    const NAME: &'static str = B::NAME;
    const ON_HOST: bool = B::ON_HOST;

    fn supports_precision(precision: super::Precision, device: &Self::Device) -> bool {
        B::supports_precision(precision, device)
    }

    fn attention_softmax(
        scores: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        divisor: f64,
    ) -> FloatTensor<Self> {
        let nodes = [scores.node.clone(), bias.node.clone()];
        match AttentionSoftmaxBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let bias_shape = bias.primitive.shape();
                let probs = B::attention_softmax(scores.primitive, bias.primitive, divisor);
                prep.finish((probs.clone(), bias_shape, divisor), probs)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::attention_softmax(
                scores.primitive,
                bias.primitive,
                divisor,
            )),
        }
    }

    fn exact_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        GeluNode::Exact.record::<B, C>(x)
    }

    fn geglu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        GeluNode::Gated.record::<B, C>(x)
    }

    fn rope(
        x: FloatTensor<Self>,
        cos: FloatTensor<Self>,
        sin: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        // The tables are constants of the sequence length: only `x` is a parent.
        let (cos, sin) = (cos.primitive, sin.primitive);
        match RopeBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::rope(x.primitive, cos.clone(), sin.clone(), heads);
                prep.finish((cos, sin, heads), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::rope(x.primitive, cos, sin, heads)),
        }
    }

    fn relative_gather(
        scores: FloatTensor<Self>,
        rows: IntTensor<Self>,
        transposed: bool,
    ) -> FloatTensor<Self> {
        match RelativeGatherBackward
            .prepare::<C>([scores.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let width = scores.primitive.shape()[3];
                let y = B::relative_gather(scores.primitive, rows.clone(), transposed);
                prep.finish((rows, transposed, width), y)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::relative_gather(scores.primitive, rows, transposed))
            }
        }
    }

    fn residual_layer_norm(
        x: FloatTensor<Self>,
        residual: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        let nodes = [
            x.node.clone(),
            residual.node.clone(),
            gamma.node.clone(),
            beta.node.clone(),
        ];
        match ResidualLayerNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let saved = B::residual_layer_norm_saving(
                    x.primitive,
                    residual.primitive,
                    gamma.primitive.clone(),
                    beta.primitive,
                    epsilon,
                );
                prep.finish(
                    (saved.normalized, saved.inv_std, gamma.primitive),
                    saved.output,
                )
            }
            OpsKind::UnTracked(prep) => prep.finish(B::residual_layer_norm(
                x.primitive,
                residual.primitive,
                gamma.primitive,
                beta.primitive,
                epsilon,
            )),
        }
    }

    fn dense(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        match bias {
            Some(bias) => {
                let nodes = [x.node.clone(), weight.node.clone(), bias.node.clone()];
                let kind = DenseBackward.prepare::<C>(nodes).compute_bound().stateful();
                finish_dense(kind, x, weight, Some(bias.primitive))
            }
            None => {
                let nodes = [x.node.clone(), weight.node.clone()];
                let kind = DenseBackward.prepare::<C>(nodes).compute_bound().stateful();
                finish_dense(kind, x, weight, None)
            }
        }
    }

    fn attention_scores(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        HeadProduct::Scores.record::<B, C>(q, k, heads)
    }

    fn attention_context(
        probs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        HeadProduct::Context.record::<B, C>(probs, v, heads)
    }

    // The backward methods are never called on an autodiff backend by the graph (it calls the inner
    // backend's); as ordinary functions, the composed defaults differentiate them like any other ops.
}
