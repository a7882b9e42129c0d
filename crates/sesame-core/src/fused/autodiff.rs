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

/// Backward pass of the per-head `Q Kᵀ`. State: `q`, `k` and the number of heads.
#[derive(Debug)]
struct AttentionScoresBackward;

impl<B: SesameBackend> Backward<B, 2> for AttentionScoresBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [q_parent, k_parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (q, k, heads) = ops.state;
        let [grad_q, grad_k] = B::attention_scores_backward(q, k, grad, heads);
        if let Some(q) = q_parent {
            grads.register::<B>(q.id, grad_q);
        }
        if let Some(k) = k_parent {
            grads.register::<B>(k.id, grad_k);
        }
    }
}

/// Backward pass of the per-head `P V`. State: `probs`, `v` and the number of heads.
#[derive(Debug)]
struct AttentionContextBackward;

impl<B: SesameBackend> Backward<B, 2> for AttentionContextBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [probs_parent, v_parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (probs, v, heads) = ops.state;
        let [grad_probs, grad_v] = B::attention_context_backward(probs, v, grad, heads);
        if let Some(probs) = probs_parent {
            grads.register::<B>(probs.id, grad_probs);
        }
        if let Some(v) = v_parent {
            grads.register::<B>(v.id, grad_v);
        }
    }
}

impl<B: SesameBackend, C: CheckpointStrategy> SesameBackend for Autodiff<B, C> {
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
        let nodes = [q.node.clone(), k.node.clone()];
        match AttentionScoresBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let scores = B::attention_scores(q.primitive.clone(), k.primitive.clone(), heads);
                prep.finish((q.primitive, k.primitive, heads), scores)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::attention_scores(q.primitive, k.primitive, heads))
            }
        }
    }

    fn attention_context(
        probs: FloatTensor<Self>,
        v: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        let nodes = [probs.node.clone(), v.node.clone()];
        match AttentionContextBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let context =
                    B::attention_context(probs.primitive.clone(), v.primitive.clone(), heads);
                prep.finish((probs.primitive, v.primitive, heads), context)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::attention_context(probs.primitive, v.primitive, heads))
            }
        }
    }

    // The backward methods are never called on an autodiff backend by the graph (it calls the inner
    // backend's); as ordinary functions, the composed defaults differentiate them like any other ops.
}
