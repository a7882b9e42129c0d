//! Full-f32 matrix products on the GPU backends, for `--precision f32`.
//!
//! burn 0.21's matmul autotunes over kernels that include tensor-core ones, and cubek-matmul stages f32 operands
//! as TF32 in every tensor-core kernel of a GPU that has TF32 (CUDA, Ampere and later), with no switch to turn it
//! off: a model that should match `transformers` in f32 is then off by ~1e-3 (docs/performance.md, "On a GPU").
//! [`matmul`] runs burn's product on cubek's *unit* kernels instead (each thread accumulates its own tile in f32
//! registers; no tensor core, so no TF32): double-buffered where the shape allows, single-buffered else, cubek's
//! naive kernel as the last resort. It enters burn's fusion stream as a custom operation, so the element-wise
//! work around it still fuses; the product itself is not fused with its neighbours and not autotuned.
//!
//! On wgpu there is no TF32 to avoid: the GPU backends use these kernels only where the backend's f32 products
//! could round to TF32, or when [`force`] asks for them (the tests run this path on Mesa's lavapipe that way).

use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use burn::tensor::ops::FloatTensor;
use burn_cubecl::kernel::matmul::{init_matmul_output, matmul as burn_matmul, MatmulStrategy};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime};
use burn_fusion::stream::{Operation, OperationStreams};
use burn_fusion::{Fusion, FusionBackend, FusionRuntime};
use burn_ir::{CustomOpIr, HandleContainer, MatmulOpIr, OperationIr, OperationOutput};
use cubek::matmul::definition::{MatmulElems, MatmulGlobalElems};
use cubek::matmul::launch::{launch_ref, Strategy};
use cubek::matmul::routines::double_unit::DoubleUnitSelectionArgs;
use cubek::matmul::routines::simple_unit::SimpleUnitSelectionArgs;
use cubek::matmul::routines::{BlueprintStrategy, TileSizeSelection};
use cubek::std::InputBinding;

/// The f32 GPU backend over runtime `R` (bool element `BT`), with burn's fusion.
type Gpu<R, BT> = Fusion<CubeBackend<R, f32, i32, BT>>;

static FORCED: AtomicBool = AtomicBool::new(false);
static PRODUCTS: AtomicU64 = AtomicU64::new(0);

/// Uses the full-f32 kernels for f32 products even where burn's would not round to TF32 (wgpu), so that this
/// path can be checked on any device.
pub fn force(on: bool) {
    FORCED.store(on, Ordering::Relaxed);
}

/// Whether [`force`] is on.
pub fn forced() -> bool {
    FORCED.load(Ordering::Relaxed)
}

/// Products computed by [`matmul`] in this process so far (executed, not only queued).
pub fn products_run() -> u64 {
    PRODUCTS.load(Ordering::Relaxed)
}

/// `lhs × rhs` in full f32 (batched over the leading axes, as burn's `matmul`).
pub fn matmul<R: CubeRuntime, BT: BoolElement>(
    lhs: FloatTensor<Gpu<R, BT>>,
    rhs: FloatTensor<Gpu<R, BT>>,
) -> FloatTensor<Gpu<R, BT>> {
    let streams = OperationStreams::with_inputs([&lhs, &rhs]);
    let client = lhs.client.clone();
    let ir = MatmulOpIr::create(lhs.into_ir(), rhs.into_ir(), || {
        client.create_empty_handle()
    });
    let desc = CustomOpIr::new("sesame_f32_matmul", &[ir.lhs, ir.rhs], &[ir.out]);
    client
        .register(
            streams,
            OperationIr::Custom(desc.clone()),
            UnitMatmul::<R, BT> {
                desc,
                _backend: PhantomData,
            },
        )
        .output()
}

/// The custom operation of [`matmul`] in the fusion stream.
#[derive(Debug)]
struct UnitMatmul<R, BT> {
    desc: CustomOpIr,
    _backend: PhantomData<(R, BT)>,
}

impl<R: CubeRuntime, BT: BoolElement>
    Operation<<CubeBackend<R, f32, i32, BT> as FusionBackend>::FusionRuntime>
    for UnitMatmul<R, BT>
{
    fn execute(
        &self,
        handles: &mut HandleContainer<
            <<CubeBackend<R, f32, i32, BT> as FusionBackend>::FusionRuntime as FusionRuntime>::FusionHandle,
        >,
    ) {
        type Inner<R, BT> = CubeBackend<R, f32, i32, BT>;
        let ([lhs, rhs], [out]) = self.desc.as_fixed();
        let lhs = handles.get_float_tensor::<Inner<R, BT>>(lhs);
        let rhs = handles.get_float_tensor::<Inner<R, BT>>(rhs);
        let product = unit_matmul(lhs, rhs);
        handles.register_float_tensor::<Inner<R, BT>>(&out.id, product);
        PRODUCTS.fetch_add(1, Ordering::Relaxed);
    }
}

/// The product on cubek's unit kernels: double-buffered, else single-buffered, else naive. Should cubek refuse
/// all three for a shape (it never has: its naive kernel takes any layout), burn's own matmul computes it.
fn unit_matmul<R: CubeRuntime>(lhs: CubeTensor<R>, rhs: CubeTensor<R>) -> CubeTensor<R> {
    let dtype = lhs.dtype;
    let out = init_matmul_output(&lhs, &rhs, dtype);
    let tile_size = TileSizeSelection::MaxTileSize;
    let strategies = [
        Strategy::DoubleUnit(BlueprintStrategy::Inferred(DoubleUnitSelectionArgs {
            tile_size,
        })),
        Strategy::SimpleUnit(BlueprintStrategy::Inferred(SimpleUnitSelectionArgs {
            tile_size,
        })),
        Strategy::Naive,
    ];
    for strategy in &strategies {
        let mut dtypes = MatmulElems::from_globals(&MatmulGlobalElems {
            lhs: dtype.into(),
            rhs: dtype.into(),
            out: dtype.into(),
        });
        let launched = launch_ref(
            strategy,
            &out.client,
            InputBinding::new(lhs.clone().binding(), dtype.into()),
            InputBinding::new(rhs.clone().binding(), dtype.into()),
            out.clone().binding(),
            &mut dtypes,
        );
        if launched.is_ok() {
            return out;
        }
    }
    burn_matmul(lhs, rhs, Some(out), MatmulStrategy::default(), dtype).unwrap_or_else(|err| {
        panic!("no matrix-product kernel launches for these operands: {err:?}")
    })
}
