//! The fused operations under burn's autodiff: one graph node each, with a hand-written backward pass that
//! calls the inner backend's backward method (a kernel where the backend has one).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{broadcast_shape, unary, Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Scalar, Shape, TensorMetadata};

use super::SesameBackend;

/// Backward pass of `softmax(scores / divisor + bias)`. State: the output `P`, the bias's shape (for the sum
/// over its broadcast axes) and the divisor.
#[derive(Debug)]
struct AttentionSoftmaxBackward;

impl<B: SesameBackend> Backward<B, 2> for AttentionSoftmaxBackward {
    type State = (FloatTensor<B>, Shape, f64);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [scores_parent, bias_parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (probs, bias_shape, divisor) = ops.state;
        match bias_parent {
            // The padding mask: only the scores need a gradient, the divisor folded into the one pass.
            None => {
                if let Some(scores) = scores_parent {
                    let grad_scores = B::attention_softmax_backward(probs, grad, divisor);
                    grads.register::<B>(scores.id, grad_scores);
                }
            }
            // A learned bias (localness): the logits' gradient, summed over the bias's broadcast axes.
            Some(bias) => {
                let grad_logits = B::attention_softmax_backward(probs, grad, 1.0);
                if let Some(scores) = scores_parent {
                    let grad_scores =
                        B::float_div_scalar(grad_logits.clone(), Scalar::Float(divisor));
                    grads.register::<B>(scores.id, grad_scores);
                }
                grads.register::<B>(bias.id, broadcast_shape::<B>(grad_logits, &bias_shape));
            }
        }
    }
}

/// Backward pass of the exact GELU. State: its input.
#[derive(Debug)]
struct ExactGeluBackward;

impl<B: SesameBackend> Backward<B, 1> for ExactGeluBackward {
    type State = FloatTensor<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::exact_gelu_backward(x, grad)
        });
    }
}

/// Backward pass of `LayerNorm(x + residual)`. State: `x̂`, `1/σ` and γ. The input's gradient is `x`'s and
/// `residual`'s alike.
#[derive(Debug)]
struct ResidualLayerNormBackward;

impl<B: SesameBackend> Backward<B, 4> for ResidualLayerNormBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 4>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [x, residual, gamma, beta] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (normalized, inv_std, gamma_value) = ops.state;
        let out = B::layer_norm_backward(normalized, inv_std, gamma_value, grad);
        if let Some(residual) = residual {
            grads.register::<B>(residual.id, out.input.clone());
        }
        if let Some(x) = x {
            grads.register::<B>(x.id, out.input);
        }
        if let Some(gamma) = gamma {
            grads.register::<B>(gamma.id, out.gamma);
        }
        if let Some(beta) = beta {
            grads.register::<B>(beta.id, out.beta);
        }
    }
}

/// Backward pass of `x W + b`. State: `x` and `W` (each only where the other's gradient needs it).
#[derive(Debug)]
struct DenseBackward;

impl<B: SesameBackend> Backward<B, 3> for DenseBackward {
    type State = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [x, weight, bias] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_value, weight_value) = ops.state;
        if let (Some(x), Some(weight_value)) = (x, weight_value) {
            grads.register::<B>(x.id, B::dense_input_grad(weight_value, grad.clone()));
        }
        if let (Some(weight), Some(x_value)) = (weight, x_value) {
            grads.register::<B>(weight.id, B::dense_weight_grad(x_value, grad.clone()));
        }
        if let Some(bias) = bias {
            grads.register::<B>(bias.id, B::dense_bias_grad(grad));
        }
    }
}

/// The per-head attention products, `Q Kᵀ` and `P V`: one node kind for both, as their graphs differ only in
/// which inner-backend methods they call. State: the two operands and the number of heads.
#[derive(Debug, Clone, Copy)]
enum HeadProduct {
    /// `attention_scores(q, k)`.
    Scores,
    /// `attention_context(probs, v)`.
    Context,
}

impl HeadProduct {
    fn forward<B: SesameBackend>(
        self,
        a: FloatTensor<B>,
        b: FloatTensor<B>,
        heads: usize,
    ) -> FloatTensor<B> {
        match self {
            HeadProduct::Scores => B::attention_scores(a, b, heads),
            HeadProduct::Context => B::attention_context(a, b, heads),
        }
    }

    /// One autodiff node of this product on `Autodiff<B, C>`.
    fn record<B: SesameBackend, C: CheckpointStrategy>(
        self,
        a: FloatTensor<Autodiff<B, C>>,
        b: FloatTensor<Autodiff<B, C>>,
        heads: usize,
    ) -> FloatTensor<Autodiff<B, C>> {
        let nodes = [a.node.clone(), b.node.clone()];
        match self.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let out = self.forward::<B>(a.primitive.clone(), b.primitive.clone(), heads);
                prep.finish((a.primitive, b.primitive, heads), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(self.forward::<B>(a.primitive, b.primitive, heads))
            }
        }
    }
}

impl<B: SesameBackend> Backward<B, 2> for HeadProduct {
    type State = (FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [a_parent, b_parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (a, b, heads) = ops.state;
        let [grad_a, grad_b] = match self {
            HeadProduct::Scores => B::attention_scores_backward(a, b, grad, heads),
            HeadProduct::Context => B::attention_context_backward(a, b, grad, heads),
        };
        if let Some(a) = a_parent {
            grads.register::<B>(a.id, grad_a);
        }
        if let Some(b) = b_parent {
            grads.register::<B>(b.id, grad_b);
        }
    }
}

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
        match ExactGeluBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = B::exact_gelu(x.primitive.clone());
                prep.finish(x.primitive, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::exact_gelu(x.primitive)),
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
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
        let nodes = [x.node.clone(), weight.node.clone(), bias.node.clone()];
        match DenseBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                // x is needed for W's gradient, W for x's.
                let state = (
                    weight_tracked.then(|| x.primitive.clone()),
                    x_tracked.then(|| weight.primitive.clone()),
                );
                prep.finish(
                    state,
                    B::dense(x.primitive, weight.primitive, bias.primitive),
                )
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::dense(x.primitive, weight.primitive, bias.primitive))
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
