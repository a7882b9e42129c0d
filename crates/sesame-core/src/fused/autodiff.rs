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

    // The backward methods are never called on an autodiff backend by the graph (it calls the inner
    // backend's); as ordinary functions, the composed defaults differentiate them like any other ops.
}
