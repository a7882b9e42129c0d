//! The fused operations as CPU kernels on burn's flex backend: one pass over memory per operation and
//! direction, rows in parallel on rayon's pool (the pool flex's own kernels use), vector code through
//! [`multiversion`](super::math::multiversion).
//!
//! A kernel writes its result into its input's buffer when the tensor holds the only reference to it (the
//! scores of `QKᵀ`, an incoming gradient), so the hot path allocates nothing. Inputs it does not cover (other
//! element types, bias shapes other than the documented ones) go to the composed default.
//!
//! Long: one `impl SesameBackend for Flex`, each operation's forward and backward kernels beside each other;
//! the shared vector math is in `math.rs`.

use burn::backend::flex::FlexTensor;
use burn::backend::Flex;
use burn::tensor::ops::{FloatTensor, ModuleOps};
use burn::tensor::{DType, Shape, TensorData, TensorMetadata};
use rayon::prelude::*;

use super::flex_buffers::Writable;
use super::flex_gather::{self, RowTable};
use super::flex_optim;
use super::math::{self, multiversion};
use super::{composed, AdamWStep, LayerNormGrads, LayerNormSaved, Products, SesameBackend};

/// Attention rows per rayon task (each row is one query's `m` logits).
const ROWS_PER_TASK: usize = 32;
/// Elements per rayon task of the element-wise kernels.
const ELEMENTS_PER_TASK: usize = 16 * 1024;
/// Token rows per rayon task of the LayerNorm kernels and the bias fill (each row is one token's features).
const TOKEN_ROWS_PER_TASK: usize = 16;
/// Token rows per rayon task of the bias gradient's column sums (a short pass per row: larger tasks).
const BIAS_GRAD_ROWS_PER_TASK: usize = 128;

impl SesameBackend for Flex {
    const NAME: &'static str = "flex";
    const ON_HOST: bool = true;

    fn attention_softmax(scores: FlexTensor, bias: FlexTensor, divisor: f64) -> FlexTensor {
        let Some(geometry) = BiasGeometry::of(&scores.shape(), &bias.shape()) else {
            return composed::attention_softmax::<Flex>(scores, bias, divisor);
        };
        if scores.dtype() != DType::F32 || bias.dtype() != DType::F32 {
            return composed::attention_softmax::<Flex>(scores, bias, divisor);
        }
        let bias = bias.to_contiguous();
        let bias: &[f32] = bias.storage();
        let divisor = divisor as f32;
        let m = geometry.m;
        map_in_place(scores, |out| {
            out.par_chunks_mut(ROWS_PER_TASK * m)
                .enumerate()
                .for_each(|(task, rows)| {
                    softmax_rows(rows, task * ROWS_PER_TASK, bias, &geometry, divisor)
                });
        })
    }

    fn attention_softmax_backward(probs: FlexTensor, grad: FlexTensor, divisor: f64) -> FlexTensor {
        let shape = probs.shape();
        if probs.dtype() != DType::F32 || grad.dtype() != DType::F32 || grad.shape() != shape {
            return composed::attention_softmax_backward::<Flex>(probs, grad, divisor);
        }
        let m = shape[shape.num_dims() - 1];
        let probs = probs.to_contiguous();
        let probs: &[f32] = probs.storage();
        let divisor = divisor as f32;
        map_in_place(grad, |out| {
            out.par_chunks_mut(ROWS_PER_TASK * m)
                .zip(probs.par_chunks(ROWS_PER_TASK * m))
                .for_each(|(grad, probs)| softmax_backward_rows(grad, probs, m, divisor));
        })
    }

    fn exact_gelu(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            return composed::exact_gelu::<Flex>(x);
        }
        let x = x.to_contiguous();
        let input: &[f32] = x.storage();
        let mut out = vec![0.0f32; input.len()];
        out.par_chunks_mut(ELEMENTS_PER_TASK)
            .zip(input.par_chunks(ELEMENTS_PER_TASK))
            .for_each(|(out, input)| gelu_slice(out, input));
        FlexTensor::from_data(TensorData::new(out, x.shape()))
    }

    fn exact_gelu_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 || x.shape() != grad.shape() {
            return composed::exact_gelu_backward::<Flex>(x, grad);
        }
        let x = x.to_contiguous();
        let input: &[f32] = x.storage();
        map_in_place(grad, |out| {
            out.par_chunks_mut(ELEMENTS_PER_TASK)
                .zip(input.par_chunks(ELEMENTS_PER_TASK))
                .for_each(|(grad, input)| gelu_backward_slice(grad, input));
        })
    }

    fn geglu(x: FlexTensor) -> FlexTensor {
        let Some([rows, width]) = f32_matrix(&x).filter(|&[_, w]| w > 0 && w.is_multiple_of(2))
        else {
            return composed::geglu::<Flex>(x);
        };
        let f = width / 2;
        let x = x.to_contiguous();
        let input: &[f32] = x.storage();
        let mut out = vec![0.0f32; rows * f];
        out.par_chunks_mut(TOKEN_ROWS_PER_TASK * f)
            .zip(input.par_chunks(TOKEN_ROWS_PER_TASK * width))
            .for_each(|(out, input)| geglu_rows(out, input, f));
        FlexTensor::from_data(TensorData::new(out, [rows, f]))
    }

    fn geglu_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (Some([rows, width]), Some([grad_rows, f])) = (f32_matrix(&x), f32_matrix(&grad))
        else {
            return composed::geglu_backward::<Flex>(x, grad);
        };
        if grad_rows != rows || f == 0 || width != 2 * f {
            return composed::geglu_backward::<Flex>(x, grad);
        }
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let (input, grad): (&[f32], &[f32]) = (x.storage(), grad.storage());
        let mut out = vec![0.0f32; rows * width];
        out.par_chunks_mut(TOKEN_ROWS_PER_TASK * width)
            .zip(input.par_chunks(TOKEN_ROWS_PER_TASK * width))
            .zip(grad.par_chunks(TOKEN_ROWS_PER_TASK * f))
            .for_each(|((out, input), grad)| geglu_backward_rows(out, input, grad, f));
        FlexTensor::from_data(TensorData::new(out, [rows, width]))
    }

    fn rope(x: FlexTensor, cos: FlexTensor, sin: FlexTensor, heads: usize) -> FlexTensor {
        let shape = x.shape();
        let fits = shape.num_dims() == 3
            && [&x, &cos, &sin].iter().all(|t| t.dtype() == DType::F32)
            && heads > 0
            && shape[2].is_multiple_of(heads)
            && (shape[2] / heads).is_multiple_of(2)
            && cos.shape() == Shape::from([shape[1], shape[2] / heads])
            && sin.shape() == cos.shape();
        if !fits || shape.num_elements() == 0 {
            return composed::rope::<Flex>(x, cos, sin, heads);
        }
        let (n, d) = (shape[1], shape[2]);
        let d_h = d / heads;
        let (cos, sin) = (cos.to_contiguous(), sin.to_contiguous());
        let (cos, sin): (&[f32], &[f32]) = (cos.storage(), sin.storage());
        map_in_place(x, |x| {
            x.par_chunks_mut(TOKEN_ROWS_PER_TASK * d)
                .enumerate()
                .for_each(|(task, rows)| {
                    let first = task * TOKEN_ROWS_PER_TASK;
                    for (i, row) in rows.chunks_exact_mut(d).enumerate() {
                        let p = (first + i) % n;
                        let (cos, sin) = (&cos[p * d_h..][..d_h], &sin[p * d_h..][..d_h]);
                        rope_row(row, cos, sin);
                    }
                });
        })
    }

    fn relative_gather(scores: FlexTensor, rows: FlexTensor, transposed: bool) -> FlexTensor {
        let shape = scores.shape();
        let table = (scores.dtype() == DType::F32 && shape.num_dims() == 4)
            .then(|| RowTable::of(&rows, shape[3]))
            .flatten()
            .filter(|t| t.n() == shape[2]);
        match table {
            Some(table) => flex_gather::gather(scores, &table, transposed),
            None => composed::relative_gather::<Flex>(scores, rows, transposed),
        }
    }

    fn relative_gather_backward(
        grad: FlexTensor,
        rows: FlexTensor,
        transposed: bool,
        width: usize,
    ) -> FlexTensor {
        let shape = grad.shape();
        let table = (grad.dtype() == DType::F32 && shape.num_dims() == 4)
            .then(|| RowTable::of(&rows, width))
            .flatten()
            .filter(|t| t.n() == shape[2] && t.n() == shape[3]);
        match table {
            Some(table) => flex_gather::scatter(grad, &table, transposed, width),
            None => composed::relative_gather_backward::<Flex>(grad, rows, transposed, width),
        }
    }

    fn residual_layer_norm(
        x: FlexTensor,
        residual: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let Some(d) = layer_norm_width(&x, &residual, &gamma, &beta) else {
            return composed::residual_layer_norm::<Flex>(x, residual, gamma, beta, epsilon);
        };
        let (residual, gamma, beta) = (
            residual.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let residual: &[f32] = residual.storage();
        let (gamma, beta): (&[f32], &[f32]) = (gamma.storage(), beta.storage());
        let epsilon = epsilon as f32;
        map_in_place(x, |x| {
            x.par_chunks_mut(TOKEN_ROWS_PER_TASK * d)
                .zip(residual.par_chunks(TOKEN_ROWS_PER_TASK * d))
                .for_each(|(x, residual)| layer_norm_rows(x, residual, gamma, beta, epsilon));
        })
    }

    fn residual_layer_norm_saving(
        x: FlexTensor,
        residual: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> LayerNormSaved<Flex> {
        let Some(d) = layer_norm_width(&x, &residual, &gamma, &beta) else {
            return composed::residual_layer_norm_saving::<Flex>(x, residual, gamma, beta, epsilon);
        };
        let shape = x.shape();
        let rows = shape.num_elements() / d;
        let (residual, gamma, beta) = (
            residual.to_contiguous(),
            gamma.to_contiguous(),
            beta.to_contiguous(),
        );
        let residual: &[f32] = residual.storage();
        let (gamma, beta): (&[f32], &[f32]) = (gamma.storage(), beta.storage());
        let epsilon = epsilon as f32;
        let mut output = vec![0.0f32; rows * d];
        let mut inv_std = vec![0.0f32; rows];
        // `x` becomes x̂ in place; the output is the one new buffer of its size.
        let normalized = map_in_place(x, |x| {
            x.par_chunks_mut(TOKEN_ROWS_PER_TASK * d)
                .zip(residual.par_chunks(TOKEN_ROWS_PER_TASK * d))
                .zip(output.par_chunks_mut(TOKEN_ROWS_PER_TASK * d))
                .zip(inv_std.par_chunks_mut(TOKEN_ROWS_PER_TASK))
                .for_each(|(((x, residual), output), inv_std)| {
                    layer_norm_rows_saving(x, residual, gamma, beta, epsilon, output, inv_std)
                });
        });
        let mut row_shape = shape.clone();
        let last = row_shape.num_dims() - 1;
        row_shape[last] = 1;
        LayerNormSaved {
            output: FlexTensor::from_data(TensorData::new(output, shape)),
            normalized,
            inv_std: FlexTensor::from_data(TensorData::new(inv_std, row_shape)),
        }
    }

    fn layer_norm_backward(
        normalized: FlexTensor,
        inv_std: FlexTensor,
        gamma: FlexTensor,
        grad: FlexTensor,
    ) -> LayerNormGrads<Flex> {
        let shape = normalized.shape();
        let d = shape[shape.num_dims() - 1];
        let f32s = [&normalized, &inv_std, &gamma, &grad]
            .iter()
            .all(|t| t.dtype() == DType::F32);
        if !f32s
            || d == 0
            || grad.shape() != shape
            || gamma.shape() != Shape::from([d])
            || inv_std.shape().num_elements() * d != shape.num_elements()
        {
            return composed::layer_norm_backward::<Flex>(normalized, inv_std, gamma, grad);
        }
        let (normalized, inv_std, gamma) = (
            normalized.to_contiguous(),
            inv_std.to_contiguous(),
            gamma.to_contiguous(),
        );
        let normalized: &[f32] = normalized.storage();
        let inv_std: &[f32] = inv_std.storage();
        let gamma: &[f32] = gamma.storage();
        // Each task sums its rows' share of dγ and dβ; the shares are added in task order, so the result does
        // not depend on how rayon schedules the tasks.
        let mut shares: Vec<Vec<f32>> = Vec::new();
        let input = map_in_place(grad, |grad| {
            shares = grad
                .par_chunks_mut(TOKEN_ROWS_PER_TASK * d)
                .zip(normalized.par_chunks(TOKEN_ROWS_PER_TASK * d))
                .zip(inv_std.par_chunks(TOKEN_ROWS_PER_TASK))
                .map(|((grad, normalized), inv_std)| {
                    let mut share = vec![0.0f32; 2 * d];
                    let (grad_gamma, grad_beta) = share.split_at_mut(d);
                    layer_norm_backward_rows(
                        grad, normalized, inv_std, gamma, grad_gamma, grad_beta,
                    );
                    share
                })
                .collect();
        });
        let mut total = sum_in_task_order(&shares, 2 * d);
        let grad_beta = total.split_off(d);
        LayerNormGrads {
            input,
            gamma: FlexTensor::from_data(TensorData::new(total, [d])),
            beta: FlexTensor::from_data(TensorData::new(grad_beta, [d])),
        }
    }

    fn dense(x: FlexTensor, weight: FlexTensor, bias: Option<FlexTensor>) -> FlexTensor {
        let dims = match (f32_matrix(&x), f32_matrix(&weight)) {
            (Some([rows, d_in]), Some([k, d_out])) if k == d_in => Some([rows, d_in, d_out]),
            _ => None,
        };
        let bias_fits = |d_out: usize| {
            bias.as_ref().is_none_or(|bias| {
                bias.dtype() == DType::F32 && bias.shape() == Shape::from([d_out])
            })
        };
        let Some([rows, d_in, d_out]) = dims.filter(|&[_, _, d_out]| d_out > 0 && bias_fits(d_out))
        else {
            return <Flex as ModuleOps<Flex>>::linear(x, weight, bias);
        };
        let (x, weight) = (x.to_contiguous(), weight.to_contiguous());
        let mut out = vec![0.0f32; rows * d_out];
        // The bias rows first; the product is then added onto them (gemm reads the destination).
        let bias = bias.map(|bias| bias.to_contiguous());
        if let Some(bias) = &bias {
            let bias: &[f32] = bias.storage();
            out.par_chunks_mut(TOKEN_ROWS_PER_TASK * d_out)
                .for_each(|block| {
                    for row in block.chunks_exact_mut(d_out) {
                        row.copy_from_slice(bias);
                    }
                });
        }
        let product = Product {
            m: rows,
            n: d_out,
            k: d_in,
            lhs: Operand::rows(x.storage(), d_in),
            rhs: Operand::rows(weight.storage(), d_out),
        };
        product.run(&mut out, bias.is_some());
        FlexTensor::from_data(TensorData::new(out, [rows, d_out]))
    }

    fn dense_input_grad(weight: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (Some([rows, d_out]), Some([d_in, n])) = (f32_matrix(&grad), f32_matrix(&weight))
        else {
            return <Flex as ModuleOps<Flex>>::linear_x_backward(weight, grad);
        };
        if n != d_out {
            return <Flex as ModuleOps<Flex>>::linear_x_backward(weight, grad);
        }
        let (weight, grad) = (weight.to_contiguous(), grad.to_contiguous());
        let mut out = vec![0.0f32; rows * d_in];
        // Wᵀ read through W's strides: no transposed copy.
        let product = Product {
            m: rows,
            n: d_in,
            k: d_out,
            lhs: Operand::rows(grad.storage(), d_out),
            rhs: Operand::columns(weight.storage(), d_out),
        };
        product.run(&mut out, false);
        FlexTensor::from_data(TensorData::new(out, [rows, d_in]))
    }

    fn dense_weight_grad(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let (Some([rows, d_in]), Some([m, d_out])) = (f32_matrix(&x), f32_matrix(&grad)) else {
            return <Flex as ModuleOps<Flex>>::linear_weight_backward(x, grad);
        };
        if m != rows {
            return <Flex as ModuleOps<Flex>>::linear_weight_backward(x, grad);
        }
        let (x, grad) = (x.to_contiguous(), grad.to_contiguous());
        let mut out = vec![0.0f32; d_in * d_out];
        // xᵀ read through x's strides.
        let product = Product {
            m: d_in,
            n: d_out,
            k: rows,
            lhs: Operand::columns(x.storage(), d_in),
            rhs: Operand::rows(grad.storage(), d_out),
        };
        product.run(&mut out, false);
        FlexTensor::from_data(TensorData::new(out, [d_in, d_out]))
    }

    fn adamw_update(
        param: FlexTensor,
        grad: FlexTensor,
        moments: Option<[FlexTensor; 2]>,
        grad_scale: Option<FlexTensor>,
        step: AdamWStep,
    ) -> [FlexTensor; 3] {
        let scalars =
            flex_optim::scalars(&param, &grad, moments.as_ref(), grad_scale.as_ref(), step);
        match scalars {
            Some(scalars) => flex_optim::apply(param, grad, moments, scalars),
            None => composed::adamw_update::<Flex>(param, grad, moments, grad_scale, step),
        }
    }

    fn sum_of_squares(x: FlexTensor) -> FlexTensor {
        flex_optim::sum_of_squares(&x).unwrap_or_else(|| composed::sum_of_squares::<Flex>(x))
    }

    fn dense_bias_grad(grad: FlexTensor) -> FlexTensor {
        let shape = grad.shape();
        if grad.dtype() != DType::F32 || shape.num_dims() != 2 || shape[1] == 0 {
            return <Flex as ModuleOps<Flex>>::linear_bias_backward(grad);
        }
        let d_out = shape[1];
        let grad = grad.to_contiguous();
        let grad: &[f32] = grad.storage();
        // Column sums by blocks of rows, the blocks' shares added in order (independent of scheduling).
        let shares: Vec<Vec<f32>> = grad
            .par_chunks(BIAS_GRAD_ROWS_PER_TASK * d_out)
            .map(|block| {
                let mut share = vec![0.0f32; d_out];
                for row in block.chunks_exact(d_out) {
                    for (s, &g) in share.iter_mut().zip(row) {
                        *s += g;
                    }
                }
                share
            })
            .collect();
        let total = sum_in_task_order(&shares, d_out);
        FlexTensor::from_data(TensorData::new(total, [d_out]))
    }

    fn attention_scores(q: FlexTensor, k: FlexTensor, heads: usize) -> FlexTensor {
        let Some(geometry) = HeadGeometry::of(&q, &k, heads) else {
            return composed::attention_scores::<Flex>(q, k, heads, Products::Burn);
        };
        let HeadGeometry {
            batch, n, m, d_h, ..
        } = geometry;
        let (q, k) = (q.to_contiguous(), k.to_contiguous());
        let mut scores = vec![0.0f32; batch * heads * n * m];
        geometry.products(
            [n, m, d_h],
            (&mut scores, geometry.square(n, m)),
            (q.storage(), geometry.tokens(n)),
            (k.storage(), geometry.tokens(m).transposed()),
        );
        FlexTensor::from_data(TensorData::new(scores, [batch, heads, n, m]))
    }

    fn attention_scores_backward(
        q: FlexTensor,
        k: FlexTensor,
        grad: FlexTensor,
        heads: usize,
    ) -> [FlexTensor; 2] {
        let geometry = HeadGeometry::of(&q, &k, heads).filter(|g| g.fits_square(&grad));
        let Some(geometry) = geometry else {
            return composed::attention_scores_backward::<Flex>(q, k, grad, heads, Products::Burn);
        };
        let HeadGeometry {
            batch,
            n,
            m,
            d_h,
            d,
        } = geometry;
        let (q, k, grad) = (q.to_contiguous(), k.to_contiguous(), grad.to_contiguous());
        let grad: &[f32] = grad.storage();
        let mut grad_q = vec![0.0f32; batch * n * d];
        geometry.products(
            [n, d_h, m],
            (&mut grad_q, geometry.tokens(n)),
            (grad, geometry.square(n, m)),
            (k.storage(), geometry.tokens(m)),
        );
        let mut grad_k = vec![0.0f32; batch * m * d];
        geometry.products(
            [m, d_h, n],
            (&mut grad_k, geometry.tokens(m)),
            (grad, geometry.square(n, m).transposed()),
            (q.storage(), geometry.tokens(n)),
        );
        [
            FlexTensor::from_data(TensorData::new(grad_q, [batch, n, d])),
            FlexTensor::from_data(TensorData::new(grad_k, [batch, m, d])),
        ]
    }

    fn attention_context(probs: FlexTensor, v: FlexTensor, heads: usize) -> FlexTensor {
        let geometry = HeadGeometry::of_context(&probs, &v, heads);
        let Some(geometry) = geometry else {
            return composed::attention_context::<Flex>(probs, v, heads, Products::Burn);
        };
        let HeadGeometry {
            batch,
            n,
            m,
            d_h,
            d,
        } = geometry;
        let (probs, v) = (probs.to_contiguous(), v.to_contiguous());
        let mut context = vec![0.0f32; batch * n * d];
        geometry.products(
            [n, d_h, m],
            (&mut context, geometry.tokens(n)),
            (probs.storage(), geometry.square(n, m)),
            (v.storage(), geometry.tokens(m)),
        );
        FlexTensor::from_data(TensorData::new(context, [batch, n, d]))
    }

    fn attention_context_backward(
        probs: FlexTensor,
        v: FlexTensor,
        grad: FlexTensor,
        heads: usize,
    ) -> [FlexTensor; 2] {
        let geometry = HeadGeometry::of_context(&probs, &v, heads).filter(|g| {
            grad.dtype() == DType::F32 && grad.shape() == Shape::from([g.batch, g.n, g.d])
        });
        let Some(geometry) = geometry else {
            return composed::attention_context_backward::<Flex>(
                probs,
                v,
                grad,
                heads,
                Products::Burn,
            );
        };
        let HeadGeometry {
            batch,
            n,
            m,
            d_h,
            d,
        } = geometry;
        let (probs, v, grad) = (
            probs.to_contiguous(),
            v.to_contiguous(),
            grad.to_contiguous(),
        );
        let grad: &[f32] = grad.storage();
        let mut grad_probs = vec![0.0f32; batch * heads * n * m];
        geometry.products(
            [n, m, d_h],
            (&mut grad_probs, geometry.square(n, m)),
            (grad, geometry.tokens(n)),
            (v.storage(), geometry.tokens(m).transposed()),
        );
        let mut grad_v = vec![0.0f32; batch * m * d];
        geometry.products(
            [m, d_h, n],
            (&mut grad_v, geometry.tokens(m)),
            (probs.storage(), geometry.square(n, m).transposed()),
            (grad, geometry.tokens(n)),
        );
        [
            FlexTensor::from_data(TensorData::new(grad_probs, [batch, heads, n, m])),
            FlexTensor::from_data(TensorData::new(grad_v, [batch, m, d])),
        ]
    }
}

/// The row length `d` when the LayerNorm kernels cover these inputs: f32, `x` and `residual` of one shape,
/// `gamma` and `beta` of `[d]`.
fn layer_norm_width(
    x: &FlexTensor,
    residual: &FlexTensor,
    gamma: &FlexTensor,
    beta: &FlexTensor,
) -> Option<usize> {
    let shape = x.shape();
    let d = *shape.as_slice().last()?;
    let f32s = [x, residual, gamma, beta]
        .iter()
        .all(|t| t.dtype() == DType::F32);
    let row = Shape::from([d]);
    (f32s && d > 0 && residual.shape() == shape && gamma.shape() == row && beta.shape() == row)
        .then_some(d)
}

/// `[rows, cols]` of a rank-2 f32 tensor; `None` for anything the product kernels do not cover.
fn f32_matrix(t: &FlexTensor) -> Option<[usize; 2]> {
    let shape = t.shape();
    (t.dtype() == DType::F32 && shape.num_dims() == 2).then(|| [shape[0], shape[1]])
}

/// A matrix operand of a product: a contiguous row-major buffer read with the given strides.
struct Operand<'a> {
    data: &'a [f32],
    row_stride: isize,
    col_stride: isize,
}

impl<'a> Operand<'a> {
    /// The row-major matrix with rows of `width` elements.
    fn rows(data: &'a [f32], width: usize) -> Self {
        Operand {
            data,
            row_stride: width as isize,
            col_stride: 1,
        }
    }

    /// The transpose of the row-major matrix with rows of `width` elements.
    fn columns(data: &'a [f32], width: usize) -> Self {
        Operand {
            data,
            row_stride: 1,
            col_stride: width as isize,
        }
    }
}

/// `[m, k] × [k, n]`, written row-major into an `[m, n]` buffer.
struct Product<'a> {
    m: usize,
    n: usize,
    k: usize,
    lhs: Operand<'a>,
    rhs: Operand<'a>,
}

/// Below this many multiply-adds a product runs on the calling thread (burn-flex's own threshold).
const PARALLEL_PRODUCT: usize = 192 * 192 * 192;

impl Product<'_> {
    /// `out ← lhs · rhs`, or `out ← out + lhs · rhs` when `accumulate`.
    fn run(&self, out: &mut [f32], accumulate: bool) {
        let Product { m, n, k, .. } = *self;
        assert!(out.len() == m * n && self.lhs.data.len() >= m * k && self.rhs.data.len() >= k * n);
        if m == 0 || n == 0 {
            return;
        }
        let parallelism = if m.saturating_mul(n).saturating_mul(k) >= PARALLEL_PRODUCT {
            gemm::Parallelism::Rayon(0)
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: every index gemm forms lies inside its buffer: `out` is `m × n` row-major (checked above);
        // `lhs` and `rhs` are contiguous buffers of at least `m × k` and `k × n` elements read either row-major
        // or transposed with the matching strides; `out` does not alias either input.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                accumulate,
                self.lhs.data.as_ptr(),
                self.lhs.col_stride,
                self.lhs.row_stride,
                self.rhs.data.as_ptr(),
                self.rhs.col_stride,
                self.rhs.row_stride,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
    }
}

/// The sizes of multi-head attention on tensors with the heads side by side (`[B, n, H·d_h]`) and of its
/// per-head square matrices (`[B, H, n, m]`).
#[derive(Clone, Copy)]
struct HeadGeometry {
    batch: usize,
    /// Queries.
    n: usize,
    /// Keys.
    m: usize,
    d_h: usize,
    /// `H·d_h`.
    d: usize,
}

/// Where each (batch, head) matrix lies in a buffer: offset `b · batch_stride + h · head_stride`, then rows
/// and columns by their strides. Every stride is non-negative.
#[derive(Clone, Copy)]
struct HeadBlocks {
    batch_stride: usize,
    head_stride: usize,
    row_stride: usize,
    col_stride: usize,
}

impl HeadBlocks {
    /// The same matrices read transposed.
    fn transposed(self) -> Self {
        HeadBlocks {
            row_stride: self.col_stride,
            col_stride: self.row_stride,
            ..self
        }
    }

    fn offset(&self, b: usize, h: usize) -> usize {
        b * self.batch_stride + h * self.head_stride
    }

    /// One past the largest index of a `rows × cols` matrix of the last (batch, head).
    fn extent(&self, batch: usize, heads: usize, rows: usize, cols: usize) -> usize {
        if batch == 0 || heads == 0 || rows == 0 || cols == 0 {
            return 0;
        }
        self.offset(batch - 1, heads - 1)
            + (rows - 1) * self.row_stride
            + (cols - 1) * self.col_stride
            + 1
    }
}

/// The output pointer shared by the per-head tasks, each of which writes only its own (disjoint) block.
struct SharedOut(*mut f32);
// SAFETY: the tasks write disjoint elements (see `HeadGeometry::products`).
unsafe impl Sync for SharedOut {}

impl HeadGeometry {
    /// `q: [B, n, d]`, `k: [B, m, d]`, f32, `d` a multiple of `heads`.
    fn of(q: &FlexTensor, k: &FlexTensor, heads: usize) -> Option<Self> {
        let (qs, ks) = (q.shape(), k.shape());
        let ok = q.dtype() == DType::F32
            && k.dtype() == DType::F32
            && qs.num_dims() == 3
            && ks.num_dims() == 3
            && qs[0] == ks[0]
            && qs[2] == ks[2]
            && heads > 0
            && qs[2] % heads == 0;
        ok.then(|| HeadGeometry {
            batch: qs[0],
            n: qs[1],
            m: ks[1],
            d_h: qs[2] / heads,
            d: qs[2],
        })
    }

    /// `probs: [B, H, n, m]`, `v: [B, m, d]`, f32, `d` a multiple of `H = heads`.
    fn of_context(probs: &FlexTensor, v: &FlexTensor, heads: usize) -> Option<Self> {
        let (ps, vs) = (probs.shape(), v.shape());
        let ok = probs.dtype() == DType::F32
            && v.dtype() == DType::F32
            && ps.num_dims() == 4
            && vs.num_dims() == 3
            && ps[0] == vs[0]
            && ps[1] == heads
            && ps[3] == vs[1]
            && heads > 0
            && vs[2] % heads == 0;
        ok.then(|| HeadGeometry {
            batch: ps[0],
            n: ps[2],
            m: ps[3],
            d_h: vs[2] / heads,
            d: vs[2],
        })
    }

    fn heads(&self) -> usize {
        self.d / self.d_h.max(1)
    }

    /// Whether `t` is the f32 `[B, H, n, m]` of this geometry.
    fn fits_square(&self, t: &FlexTensor) -> bool {
        t.dtype() == DType::F32
            && t.shape() == Shape::from([self.batch, self.heads(), self.n, self.m])
    }

    /// Head `h`'s `[rows, d_h]` slice of a `[B, rows, H·d_h]` tensor.
    fn tokens(&self, rows: usize) -> HeadBlocks {
        HeadBlocks {
            batch_stride: rows * self.d,
            head_stride: self.d_h,
            row_stride: self.d,
            col_stride: 1,
        }
    }

    /// The `[rows, cols]` matrix of (b, h) in a contiguous `[B, H, rows, cols]` tensor.
    fn square(&self, rows: usize, cols: usize) -> HeadBlocks {
        HeadBlocks {
            batch_stride: self.heads() * rows * cols,
            head_stride: rows * cols,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// For every (batch, head): `out ← lhs · rhs`, `[rows, cols] ← [rows, inner] × [inner, cols]`, each block
    /// one single-threaded gemm call, the blocks in parallel on rayon.
    fn products(
        &self,
        [rows, cols, inner]: [usize; 3],
        (out, out_blocks): (&mut [f32], HeadBlocks),
        (lhs, lhs_blocks): (&[f32], HeadBlocks),
        (rhs, rhs_blocks): (&[f32], HeadBlocks),
    ) {
        let (batch, heads) = (self.batch, self.heads());
        assert!(
            out_blocks.extent(batch, heads, rows, cols) <= out.len()
                && lhs_blocks.extent(batch, heads, rows, inner) <= lhs.len()
                && rhs_blocks.extent(batch, heads, inner, cols) <= rhs.len(),
            "per-head product out of its buffers"
        );
        if rows == 0 || cols == 0 {
            return;
        }
        let shared = SharedOut(out.as_mut_ptr());
        (0..batch * heads).into_par_iter().for_each(|block| {
            let (b, h) = (block / heads, block % heads);
            let shared = &shared;
            // SAFETY: the extents checked above keep every index inside its buffer. The output blocks of
            // different (b, h) are disjoint: a square layout gives each its own contiguous block; a token layout
            // gives each head its own `d_h` columns of its batch's rows. Inputs are only read and do not alias
            // `out` (a fresh buffer).
            unsafe {
                gemm::gemm(
                    rows,
                    cols,
                    inner,
                    shared.0.add(out_blocks.offset(b, h)),
                    out_blocks.col_stride as isize,
                    out_blocks.row_stride as isize,
                    false,
                    lhs.as_ptr().add(lhs_blocks.offset(b, h)),
                    lhs_blocks.col_stride as isize,
                    lhs_blocks.row_stride as isize,
                    rhs.as_ptr().add(rhs_blocks.offset(b, h)),
                    rhs_blocks.col_stride as isize,
                    rhs_blocks.row_stride as isize,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
        });
    }
}

/// The element-wise sum of per-task partial sums of length `len`, added in task order, so that a reduction
/// split over rayon tasks gives the same result whatever the scheduling.
fn sum_in_task_order(shares: &[Vec<f32>], len: usize) -> Vec<f32> {
    let mut total = vec![0.0f32; len];
    for share in shares {
        for (t, s) in total.iter_mut().zip(share) {
            *t += s;
        }
    }
    total
}

/// Applies `kernel` to a contiguous f32 copy of `tensor` — the tensor's own buffer when nothing else holds it.
fn map_in_place(tensor: FloatTensor<Flex>, kernel: impl FnOnce(&mut [f32])) -> FlexTensor {
    let mut out = Writable::of(tensor);
    kernel(out.values());
    out.into_tensor()
}

/// Where the bias row of each attention row lies: `bias` is `[bb, bh, bn, m]` contiguous, each of `bb, bh, bn`
/// either 1 (broadcast) or the scores' size.
struct BiasGeometry {
    heads: usize,
    queries: usize,
    m: usize,
    /// `[bb, bh, bn]`.
    bias_dims: [usize; 3],
}

impl BiasGeometry {
    fn of(scores: &Shape, bias: &Shape) -> Option<Self> {
        if scores.num_dims() != 4 || bias.num_dims() != 4 || bias[3] != scores[3] {
            return None;
        }
        let fits = |axis: usize| bias[axis] == scores[axis] || bias[axis] == 1;
        if !(fits(0) && fits(1) && fits(2)) || scores[3] == 0 {
            return None;
        }
        Some(BiasGeometry {
            heads: scores[1],
            queries: scores[2],
            m: scores[3],
            bias_dims: [bias[0], bias[1], bias[2]],
        })
    }

    /// Offset of the bias row for attention row `row` (`row = (b·H + h)·n + i`); an axis of size 1 in the bias
    /// is broadcast (index 0).
    #[inline(always)]
    fn bias_offset(&self, row: usize) -> usize {
        let i = row % self.queries;
        let h = (row / self.queries) % self.heads;
        let b = row / (self.queries * self.heads);
        let [bb, bh, bn] = self.bias_dims;
        let at = |index: usize, size: usize| if size == 1 { 0 } else { index };
        ((at(b, bb) * bh + at(h, bh)) * bn + at(i, bn)) * self.m
    }
}

/// Lanes of the partial maxima and sums: a multiple of every vector width, so the reductions vectorise.
const LANES: usize = 16;

multiversion! {
    /// `rows` (whole rows of `geometry.m` logits, the first being attention row `first_row`) ← softmax of
    /// `row / divisor + bias row`.
    fn softmax_rows(rows: &mut [f32], first_row: usize, bias: &[f32], geometry: &BiasGeometry, divisor: f32) {
        let m = geometry.m;
        for (k, row) in rows.chunks_exact_mut(m).enumerate() {
            let offset = geometry.bias_offset(first_row + k);
            let bias_row = &bias[offset..offset + m];
            let mut maxima = [f32::NEG_INFINITY; LANES];
            for (chunk, bias_chunk) in row.chunks_mut(LANES).zip(bias_row.chunks(LANES)) {
                for ((x, &b), max) in chunk.iter_mut().zip(bias_chunk).zip(maxima.iter_mut()) {
                    *x = *x / divisor + b;
                    *max = if *x > *max { *x } else { *max };
                }
            }
            let max = maxima.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
            let mut sums = [0.0f32; LANES];
            for chunk in row.chunks_mut(LANES) {
                for (x, sum) in chunk.iter_mut().zip(sums.iter_mut()) {
                    *x = math::exp_nonpositive(*x - max);
                    *sum += *x;
                }
            }
            let sum: f32 = sums.iter().sum();
            for x in row.iter_mut() {
                *x /= sum;
            }
        }
    }
}

multiversion! {
    /// `grad` ← `probs ⊙ (grad − Σ grad ⊙ probs) / divisor` row by row (rows of `m`).
    fn softmax_backward_rows(grad: &mut [f32], probs: &[f32], m: usize, divisor: f32) {
        for (g, p) in grad.chunks_exact_mut(m).zip(probs.chunks_exact(m)) {
            let mut dots = [0.0f32; LANES];
            for (g_chunk, p_chunk) in g.chunks(LANES).zip(p.chunks(LANES)) {
                for ((&g, &p), dot) in g_chunk.iter().zip(p_chunk).zip(dots.iter_mut()) {
                    *dot += g * p;
                }
            }
            let dot: f32 = dots.iter().sum();
            for (g, &p) in g.iter_mut().zip(p) {
                *g = p * (*g - dot) / divisor;
            }
        }
    }
}

multiversion! {
    /// `out` ← GELU(`input`).
    fn gelu_slice(out: &mut [f32], input: &[f32]) {
        for (y, &x) in out.iter_mut().zip(input) {
            *y = math::gelu(x);
        }
    }
}

multiversion! {
    /// `grad` ← `grad ⊙ GELU'(input)`.
    fn gelu_backward_slice(grad: &mut [f32], input: &[f32]) {
        for (g, &x) in grad.iter_mut().zip(input) {
            *g *= math::gelu_derivative(x);
        }
    }
}

multiversion! {
    /// Rows of `[a | g]` (`2·f` wide) → rows of `GELU(a) ⊙ g` (`f` wide).
    fn geglu_rows(out: &mut [f32], input: &[f32], f: usize) {
        for (out, row) in out.chunks_exact_mut(f).zip(input.chunks_exact(2 * f)) {
            let (a, g) = row.split_at(f);
            for ((y, &a), &g) in out.iter_mut().zip(a).zip(g) {
                *y = math::gelu(a) * g;
            }
        }
    }
}

multiversion! {
    /// Rows of `[a | g]` and of the output's gradient `G` → rows of `[G ⊙ g ⊙ GELU'(a) | G ⊙ GELU(a)]`.
    fn geglu_backward_rows(out: &mut [f32], input: &[f32], grad: &[f32], f: usize) {
        let rows = out.chunks_exact_mut(2 * f).zip(input.chunks_exact(2 * f)).zip(grad.chunks_exact(f));
        for ((out, row), grad) in rows {
            let (a, g) = row.split_at(f);
            let (out_a, out_g) = out.split_at_mut(f);
            for ((((da, dg), &a), &g), &grad) in out_a.iter_mut().zip(out_g).zip(a).zip(g).zip(grad) {
                *da = grad * g * math::gelu_derivative(a);
                *dg = grad * math::gelu(a);
            }
        }
    }
}

multiversion! {
    /// One position's heads side by side, each `[x₁ | x₂]` of width `d_h = cos.len()`, rotated in place:
    /// `x₁ cos − x₂ sin`, `x₂ cos + x₁ sin` (the tables hold each frequency in both halves; the first is read).
    fn rope_row(row: &mut [f32], cos: &[f32], sin: &[f32]) {
        let half = cos.len() / 2;
        let (cos, sin) = (&cos[..half], &sin[..half]);
        for head in row.chunks_exact_mut(2 * half) {
            let (x1, x2) = head.split_at_mut(half);
            for (((a, b), &c), &s) in x1.iter_mut().zip(x2.iter_mut()).zip(cos).zip(sin) {
                let (u, v) = (*a, *b);
                *a = u * c - v * s;
                *b = v * c + u * s;
            }
        }
    }
}

/// `row` ← `row + residual − mean`, returning `1/σ` of the sum (biased variance, `ε` added).
#[inline(always)]
fn center_sum(row: &mut [f32], residual: &[f32], epsilon: f32) -> f32 {
    let d = row.len() as f32;
    let mut sums = [0.0f32; LANES];
    for (chunk, residual) in row.chunks_mut(LANES).zip(residual.chunks(LANES)) {
        for ((x, &r), sum) in chunk.iter_mut().zip(residual).zip(sums.iter_mut()) {
            *x += r;
            *sum += *x;
        }
    }
    let mean = sums.iter().sum::<f32>() / d;
    let mut squares = [0.0f32; LANES];
    for chunk in row.chunks_mut(LANES) {
        for (x, square) in chunk.iter_mut().zip(squares.iter_mut()) {
            *x -= mean;
            *square += *x * *x;
        }
    }
    let var = squares.iter().sum::<f32>() / d;
    1.0 / (var + epsilon).sqrt()
}

multiversion! {
    /// Rows of `d = gamma.len()`: `x` ← LayerNorm(`x + residual`) `γ + β`.
    fn layer_norm_rows(x: &mut [f32], residual: &[f32], gamma: &[f32], beta: &[f32], epsilon: f32) {
        let d = gamma.len();
        for (row, residual) in x.chunks_exact_mut(d).zip(residual.chunks_exact(d)) {
            let inv_std = center_sum(row, residual, epsilon);
            for ((x, &g), &b) in row.iter_mut().zip(gamma).zip(beta) {
                *x = *x * inv_std * g + b;
            }
        }
    }
}

multiversion! {
    /// Rows of `d = gamma.len()`: `x` ← x̂ of `x + residual`, `output` ← `x̂ γ + β`, `inv_std` ← `1/σ`.
    fn layer_norm_rows_saving(
        x: &mut [f32],
        residual: &[f32],
        gamma: &[f32],
        beta: &[f32],
        epsilon: f32,
        output: &mut [f32],
        inv_std: &mut [f32],
    ) {
        let d = gamma.len();
        let rows = x.chunks_exact_mut(d).zip(residual.chunks_exact(d)).zip(output.chunks_exact_mut(d));
        for (((row, residual), out), inv_std) in rows.zip(inv_std.iter_mut()) {
            *inv_std = center_sum(row, residual, epsilon);
            for (((x, y), &g), &b) in row.iter_mut().zip(out.iter_mut()).zip(gamma).zip(beta) {
                *x *= *inv_std;
                *y = *x * g + b;
            }
        }
    }
}

multiversion! {
    /// Rows of `d = gamma.len()`: `grad` ← `(dx̂ − mean(dx̂) − x̂ mean(dx̂ ⊙ x̂)) / σ` with `dx̂ = grad γ`;
    /// `grad_gamma += Σ grad ⊙ x̂`, `grad_beta += Σ grad` over the rows.
    fn layer_norm_backward_rows(
        grad: &mut [f32],
        normalized: &[f32],
        inv_std: &[f32],
        gamma: &[f32],
        grad_gamma: &mut [f32],
        grad_beta: &mut [f32],
    ) {
        let d = gamma.len();
        let rows = grad.chunks_exact_mut(d).zip(normalized.chunks_exact(d)).zip(inv_std);
        for ((g, xh), &inv_std) in rows {
            let mut sums = [0.0f32; LANES];
            let mut dots = [0.0f32; LANES];
            let chunks = g.chunks_mut(LANES).zip(xh.chunks(LANES));
            for (k, (g_chunk, xh_chunk)) in chunks.enumerate() {
                let at = k * LANES;
                let gg = &mut grad_gamma[at..at + g_chunk.len()];
                let gb = &mut grad_beta[at..at + g_chunk.len()];
                let gamma = &gamma[at..at + g_chunk.len()];
                for (j, (g, &xh)) in g_chunk.iter_mut().zip(xh_chunk).enumerate() {
                    gg[j] += *g * xh;
                    gb[j] += *g;
                    *g *= gamma[j];
                    sums[j] += *g;
                    dots[j] += *g * xh;
                }
            }
            let mean = sums.iter().sum::<f32>() / d as f32;
            let mean_dot = dots.iter().sum::<f32>() / d as f32;
            for (g, &xh) in g.iter_mut().zip(xh) {
                *g = (*g - mean - xh * mean_dot) * inv_std;
            }
        }
    }
}
