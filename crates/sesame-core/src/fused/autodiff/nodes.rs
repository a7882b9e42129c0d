//! The graph nodes of the fused operations: each one's saved state and hand-written backward pass, which
//! calls the inner backend's backward method (a kernel where the backend has one).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{broadcast_shape, unary, Backward, Ops, OpsKind};
use burn::backend::Autodiff;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Scalar, Shape};

use crate::fused::SesameBackend;

/// Backward pass of `softmax(scores / divisor + bias)`. State: the output `P`, the bias's shape (for the sum
/// over its broadcast axes) and the divisor.
#[derive(Debug)]
pub(super) struct AttentionSoftmaxBackward;

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

/// The exact GELU and GeGLU's gate built on it: one node kind for both, as their graphs differ only in which
/// inner-backend methods they call. State: the input.
#[derive(Debug, Clone, Copy)]
pub(super) enum GeluNode {
    /// `exact_gelu(x)`.
    Exact,
    /// `geglu(x)`.
    Gated,
}

impl GeluNode {
    pub(super) fn forward<B: SesameBackend>(self, x: FloatTensor<B>) -> FloatTensor<B> {
        match self {
            GeluNode::Exact => B::exact_gelu(x),
            GeluNode::Gated => B::geglu(x),
        }
    }

    /// One autodiff node of this operation on `Autodiff<B, C>`.
    pub(super) fn record<B: SesameBackend, C: CheckpointStrategy>(
        self,
        x: FloatTensor<Autodiff<B, C>>,
    ) -> FloatTensor<Autodiff<B, C>> {
        match self
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let y = self.forward::<B>(x.primitive.clone());
                prep.finish(x.primitive, y)
            }
            OpsKind::UnTracked(prep) => prep.finish(self.forward::<B>(x.primitive)),
        }
    }
}

impl<B: SesameBackend> Backward<B, 1> for GeluNode {
    type State = FloatTensor<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let x = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| match self {
            GeluNode::Exact => B::exact_gelu_backward(x, grad),
            GeluNode::Gated => B::geglu_backward(x, grad),
        });
    }
}

/// Backward pass of RoPE: the rotation by the opposite angle. State: the tables and the number of heads.
#[derive(Debug)]
pub(super) struct RopeBackward;

impl<B: SesameBackend> Backward<B, 1> for RopeBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (cos, sin, heads) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::rope(grad, cos, B::float_neg(sin), heads)
        });
    }
}

/// Backward pass of DeBERTa's relative-position gather: the scatter back to where each score was read. State:
/// the row table, the p2c flag and the scores' width; the table is an integer constant, not a parent.
#[derive(Debug)]
pub(super) struct RelativeGatherBackward;

impl<B: SesameBackend> Backward<B, 1> for RelativeGatherBackward {
    type State = (IntTensor<B>, bool, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let (rows, transposed, width) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::relative_gather_backward(grad, rows, transposed, width)
        });
    }
}

/// Backward pass of `LayerNorm(x + residual)`. State: `x̂`, `1/σ` and γ. The input's gradient is `x`'s and
/// `residual`'s alike.
#[derive(Debug)]
pub(super) struct ResidualLayerNormBackward;

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

/// Backward pass of `x W + b` (parents `x`, `W`, `b`: N = 3) or of `x W` (N = 2).
#[derive(Debug)]
pub(super) struct DenseBackward;

impl<B: SesameBackend, const N: usize> Backward<B, N> for DenseBackward {
    type State = DenseState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, N>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let mut parents = ops.parents.into_iter();
        let mut next = || parents.next().flatten();
        let (x, weight, bias) = (next(), next(), next());
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

/// What [`DenseBackward`] keeps: `x` and `W`, each only where the other's gradient needs it.
pub(super) type DenseState<B> = (Option<FloatTensor<B>>, Option<FloatTensor<B>>);

/// Finishes the autodiff node of `x W (+ b)` on `Autodiff<B, C>` once it is prepared with its N parents (`x`,
/// `W` and, with N = 3, `b`); `bias` is the inner tensor of `b`.
pub(super) fn finish_dense<B: SesameBackend, C: CheckpointStrategy, const N: usize>(
    kind: OpsKind<DenseBackward, B, DenseState<B>, C, N>,
    x: FloatTensor<Autodiff<B, C>>,
    weight: FloatTensor<Autodiff<B, C>>,
    bias: Option<FloatTensor<B>>,
) -> FloatTensor<Autodiff<B, C>> {
    let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
    match kind {
        OpsKind::Tracked(prep) => {
            // x is needed for W's gradient, W for x's.
            let state = (
                weight_tracked.then(|| x.primitive.clone()),
                x_tracked.then(|| weight.primitive.clone()),
            );
            prep.finish(state, B::dense(x.primitive, weight.primitive, bias))
        }
        OpsKind::UnTracked(prep) => prep.finish(B::dense(x.primitive, weight.primitive, bias)),
    }
}

/// The per-head attention products, `Q Kᵀ` and `P V`: one node kind for both, as their graphs differ only in
/// which inner-backend methods they call. State: the two operands and the number of heads.
#[derive(Debug, Clone, Copy)]
pub(super) enum HeadProduct {
    /// `attention_scores(q, k)`.
    Scores,
    /// `attention_context(probs, v)`.
    Context,
}

impl HeadProduct {
    pub(super) fn forward<B: SesameBackend>(
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
    pub(super) fn record<B: SesameBackend, C: CheckpointStrategy>(
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
