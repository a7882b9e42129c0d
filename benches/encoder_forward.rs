//! Encoder forward pass on the CPU backend (inference, no autodiff), MiniLM shape with random weights:
//! the baseline later performance work is measured against. Run: `cargo bench --bench encoder_forward`.

use burn::tensor::{Int, Tensor, TensorData};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sesame::{AttentionConfig, BertConfig, BertInput, BertModel, BlurConfig};
use sesame_testkit::CpuBackend;

type B = CpuBackend;

fn input(batch: usize, seq: usize) -> BertInput<B> {
    let device = Default::default();
    let ids: Vec<i64> = (0..batch * seq)
        .map(|i| 1000 + (i as i64 * 7919) % 20000)
        .collect();
    let t = |v: Vec<i64>| Tensor::<B, 2, Int>::from_data(TensorData::new(v, [batch, seq]), &device);
    BertInput {
        input_ids: t(ids),
        token_type_ids: t(vec![0; batch * seq]),
        attention_mask: t(vec![1; batch * seq]),
    }
}

fn bench_forward(c: &mut Criterion) {
    sesame::alloc::tune_allocator();
    let device = Default::default();
    let config = BertConfig::minilm_l6();
    let variants = [
        ("baseline", AttentionConfig::default()),
        (
            "blur_context",
            AttentionConfig {
                blur: Some(BlurConfig::default()),
                ..AttentionConfig::default()
            },
        ),
    ];
    let mut group = c.benchmark_group("minilm_forward");
    group.sample_size(10);
    for (name, attention) in variants {
        let model = BertModel::<B>::new(&config, &attention, &device).expect("model");
        for (batch, seq) in [(8usize, 128usize), (32, 128)] {
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(
                BenchmarkId::new(name, format!("b{batch}xn{seq}")),
                &(batch, seq),
                |b, &(batch, seq)| {
                    b.iter(|| {
                        let out = model.forward(input(batch, seq), false).expect("forward");
                        // Reading the result back forces the computation on lazy backends.
                        out.pooler_output.map(|p| p.into_data())
                    })
                },
            );
        }
    }
    group.finish();
}

criterion_group!(benches, bench_forward);
criterion_main!(benches);
