//! How the flex kernels reach a tensor's f32 values: read where they lie, or written in place in a buffer that
//! nothing else holds, copied first only when it is shared (an autodiff graph or a caller may still hold it).

use burn::backend::flex::FlexTensor;
use burn::tensor::{Shape, TensorData, TensorMetadata};

/// The values of a contiguous f32 tensor (its part of the buffer).
pub(super) fn contiguous_values(tensor: &FlexTensor) -> &[f32] {
    let (start, end) = tensor
        .layout()
        .contiguous_offsets()
        .expect("the caller made it contiguous");
    &tensor.storage::<f32>()[start..end]
}

/// A contiguous f32 tensor whose buffer nothing else holds.
pub(super) struct Writable(FlexTensor);

impl Writable {
    /// `tensor`'s own buffer when it is contiguous and unshared, else a contiguous copy of its values.
    pub(super) fn of(tensor: FlexTensor) -> Self {
        let mut contiguous = tensor.to_contiguous();
        // `to_contiguous` of a contiguous tensor shares its buffer; dropping the original makes it unique again.
        drop(tensor);
        if contiguous.try_storage_mut::<f32>().is_none() {
            let values = contiguous_values(&contiguous).to_vec();
            contiguous = FlexTensor::from_data(TensorData::new(values, contiguous.shape()));
        }
        Writable(contiguous)
    }

    pub(super) fn zeros(shape: &Shape) -> Self {
        let values = vec![0.0f32; shape.num_elements()];
        Writable(FlexTensor::from_data(TensorData::new(
            values,
            shape.clone(),
        )))
    }

    pub(super) fn values(&mut self) -> &mut [f32] {
        let (start, end) = self
            .0
            .layout()
            .contiguous_offsets()
            .expect("made contiguous in `of`");
        let storage = self
            .0
            .try_storage_mut::<f32>()
            .expect("made unique in `of`");
        &mut storage[start..end]
    }

    pub(super) fn into_tensor(self) -> FlexTensor {
        self.0
    }
}
