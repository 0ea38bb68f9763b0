//! Quorum certificates: build (aggregate n verified votes) and verify (one fast_aggregate_verify,
//! with the signature subgroup check) for 4/16/64/100 signers; single vote verification on receipt.
//! Run: `cargo bench -p lc-crypto --profile dev --bench qc`.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use lc_crypto::bls::{
    aggregate_verified, bitmap, verify_from, verify_qc, vote_message, BlsKeypair, ValidatorKeys, VerifiedSignature,
};
use lc_types::{BlsPublicKey, Hash, QuorumCert};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("qc");
    g.sample_size(20);
    let msg = vote_message("bench", 0, 7, 100, Hash([3; 32]));
    let one = BlsKeypair::dev(0);
    let sig = one.sign(&msg);
    let one_key = ValidatorKeys::new(&[one.public()]).expect("key");
    g.bench_function("verify_single_vote_on_receipt", |b| b.iter(|| verify_from(&one_key, 0, &msg, &sig).is_ok()));
    for n in [4usize, 16, 64, 100] {
        let kps: Vec<BlsKeypair> = (0..n as u64).map(BlsKeypair::dev).collect();
        let pks = ValidatorKeys::new(&kps.iter().map(BlsKeypair::public).collect::<Vec<BlsPublicKey>>()).expect("keys");
        let sigs: Vec<VerifiedSignature> =
            kps.iter().enumerate().map(|(i, k)| verify_from(&pks, i, &msg, &k.sign(&msg)).expect("valid")).collect();
        g.bench_with_input(BenchmarkId::new("build", n), &sigs, |b, sigs| b.iter(|| aggregate_verified(sigs)));
        let qc = QuorumCert {
            epoch: 0,
            round: 7,
            height: 100,
            block_hash: Hash([3; 32]),
            signer_bitmap: bitmap(n, 0..n),
            aggregate_signature: aggregate_verified(&sigs).expect("aggregate"),
        };
        assert!(verify_qc(&qc, "bench", &pks).is_ok());
        g.bench_with_input(BenchmarkId::new("verify", n), &qc, |b, qc| b.iter(|| verify_qc(qc, "bench", &pks).is_ok()));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
