//! Property tests of the canonical (borsh) encoding: roundtrips, robustness of `decode` against
//! arbitrary and corrupted input, canonicity, and the size / trailing-byte limits.

use lc_types::{
    decode, encode, Block, BlockHeader, BlsSignature, Error, Hash, Payload, PublicKey, QuorumCert, Signature,
    TimeoutCert, Transaction, TxBody, MAX_MESSAGE_BYTES,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn public_key() -> impl Strategy<Value = PublicKey> {
    any::<[u8; 32]>().prop_map(PublicKey)
}

fn signature() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn bls_signature() -> impl Strategy<Value = BlsSignature> {
    vec(any::<u8>(), 96).prop_map(|v| BlsSignature(v.try_into().expect("96 bytes")))
}

/// Any Unicode text (including multi-byte characters), short.
fn text() -> impl Strategy<Value = String> {
    ".{0,24}"
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (text(), text(), text()).prop_map(|(score, method, params_json)| Payload::Call { score, method, params_json }),
        text().prop_map(|json| Payload::Data { json }),
        (text(), hash(), text()).prop_map(|(score, code_hash, params)| Payload::Deploy { score, code_hash, params }),
        text().prop_map(|json| Payload::ChannelConfig { json }),
    ]
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (text(), public_key(), any::<u64>(), any::<u64>(), payload(), signature()).prop_map(
        |(channel, from, timestamp_us, nonce, payload, signature)| Transaction {
            body: TxBody { channel, from, timestamp_us, nonce, payload },
            signature,
        },
    )
}

fn quorum_cert() -> impl Strategy<Value = QuorumCert> {
    (any::<u64>(), any::<u64>(), any::<u64>(), hash(), vec(any::<u8>(), 0..8), bls_signature()).prop_map(
        |(epoch, round, height, block_hash, signer_bitmap, aggregate_signature)| QuorumCert {
            epoch,
            round,
            height,
            block_hash,
            signer_bitmap,
            aggregate_signature,
        },
    )
}

fn timeout_cert() -> impl Strategy<Value = TimeoutCert> {
    (any::<u64>(), any::<u64>(), vec(any::<u8>(), 0..8), vec(any::<u64>(), 0..8), bls_signature(), quorum_cert())
        .prop_map(|(epoch, round, signer_bitmap, hqc_rounds, aggregate_signature, high_qc)| TimeoutCert {
            epoch,
            round,
            signer_bitmap,
            hqc_rounds,
            aggregate_signature,
            high_qc,
        })
}

fn header() -> impl Strategy<Value = BlockHeader> {
    (
        (any::<u32>(), text(), any::<u64>(), any::<u64>(), any::<u64>()),
        (hash(), hash(), hash(), hash()),
        (proptest::option::of(quorum_cert()), proptest::option::of(timeout_cert())),
        (any::<u64>(), public_key()),
    )
        .prop_map(
            |(
                (version, channel, height, round, epoch),
                (prev_hash, tx_root, state_root, receipts_root),
                (qc, tc),
                (timestamp_us, proposer),
            )| BlockHeader {
                version,
                channel,
                height,
                round,
                epoch,
                prev_hash,
                tx_root,
                state_root,
                receipts_root,
                qc,
                tc,
                timestamp_us,
                proposer,
            },
        )
}

fn block() -> impl Strategy<Value = Block> {
    (header(), signature(), vec(transaction(), 0..4)).prop_map(|(header, proposer_signature, txs)| Block {
        header,
        proposer_signature,
        txs,
    })
}

/// One corruption of an encoding.
#[derive(Debug, Clone)]
enum Mutation {
    Flip(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<Index>(), 1u8..=255).prop_map(|(i, m)| Mutation::Flip(i, m)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    if bytes.is_empty() {
        return;
    }
    match m {
        Mutation::Flip(i, mask) => {
            let i = i.index(bytes.len());
            bytes[i] ^= mask;
        }
        Mutation::Insert(i, b) => {
            let i = i.index(bytes.len() + 1);
            bytes.insert(i, *b);
        }
        Mutation::Remove(i) => {
            let i = i.index(bytes.len());
            bytes.remove(i);
        }
        Mutation::Truncate(i) => {
            let i = i.index(bytes.len());
            bytes.truncate(i);
        }
    }
}

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, ..ProptestConfig::default() }
}

// ---------------------------------------------------------------------------------------------
// (a) roundtrips
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn transaction_roundtrips(tx in transaction()) {
        let bytes = encode(&tx);
        prop_assert_eq!(tx.encoded_len(), bytes.len());
        let back: Transaction = decode(&bytes).expect("decode of an encoding");
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.hash(), tx.hash());
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn block_roundtrips(b in block()) {
        let bytes = encode(&b);
        let back: Block = decode(&bytes).expect("decode of an encoding");
        prop_assert_eq!(&back, &b);
        prop_assert_eq!(back.hash(), b.hash());
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn certificates_roundtrip(qc in quorum_cert(), tc in timeout_cert()) {
        prop_assert_eq!(decode::<QuorumCert>(&encode(&qc)).expect("qc"), qc);
        prop_assert_eq!(decode::<TimeoutCert>(&encode(&tc)).expect("tc"), tc);
    }

    #[test]
    fn tx_encoding_is_injective(a in transaction(), other in transaction(), field in 0usize..7) {
        // b = a with one field taken from another tx: distinct values never share an encoding, and
        // distinct bodies never share a hash input.
        let mut b = a.clone();
        match field {
            0 => b.body.channel = other.body.channel,
            1 => b.body.from = other.body.from,
            2 => b.body.timestamp_us = other.body.timestamp_us,
            3 => b.body.nonce = other.body.nonce,
            4 => b.body.payload = other.body.payload,
            5 => b.signature = other.signature,
            _ => {}
        }
        prop_assert_eq!(a == b, encode(&a) == encode(&b));
        prop_assert_eq!(a.body == b.body, a.hash() == b.hash());
        prop_assert_eq!(a.body == b.body, encode(&a.body) == encode(&b.body));
    }
}

// ---------------------------------------------------------------------------------------------
// (b) decoding arbitrary bytes never panics; whatever decodes is canonical
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..4096)) {
        if let Ok(tx) = decode::<Transaction>(&bytes) {
            prop_assert_eq!(encode(&tx), bytes.clone());
        }
        if let Ok(b) = decode::<Block>(&bytes) {
            prop_assert_eq!(encode(&b), bytes.clone());
        }
        if let Ok(qc) = decode::<QuorumCert>(&bytes) {
            prop_assert_eq!(encode(&qc), bytes.clone());
        }
    }

    #[test]
    fn decode_small_arbitrary_bytes_never_panics(bytes in vec(any::<u8>(), 0..200)) {
        // Short inputs reach past the first length prefixes more often.
        for result in [
            decode::<Transaction>(&bytes).map(|v| encode(&v)),
            decode::<Block>(&bytes).map(|v| encode(&v)),
            decode::<QuorumCert>(&bytes).map(|v| encode(&v)),
        ] {
            match result {
                Ok(reencoded) => prop_assert_eq!(reencoded, bytes.clone()),
                Err(e) => prop_assert!(matches!(e, Error::Malformed(_)), "unexpected error {e:?}"),
            }
        }
    }

    #[test]
    fn decode_corrupted_block_never_panics_and_stays_canonical(
        b in block(),
        mutations in vec(mutation(), 1..4),
    ) {
        let mut bytes = encode(&b);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        match decode::<Block>(&bytes) {
            Ok(back) => prop_assert_eq!(encode(&back), bytes.clone()),
            Err(e) => prop_assert!(matches!(e, Error::Malformed(_)), "unexpected error {e:?}"),
        }
        let _ = decode::<Transaction>(&bytes);
        let _ = decode::<QuorumCert>(&bytes);
    }
}

#[test]
fn decode_huge_length_prefixes_fails_cleanly() {
    // A channel length of u32::MAX with no bytes behind it must be an error, not an allocation.
    let mut bytes = u32::MAX.to_le_bytes().to_vec();
    bytes.extend_from_slice(&[0u8; 16]);
    assert!(matches!(decode::<Transaction>(&bytes), Err(Error::Malformed(_))));
    // A block whose txs vector claims u32::MAX entries.
    let mut block_bytes = encode(&Block {
        header: BlockHeader {
            version: 1,
            channel: "c".into(),
            height: 0,
            round: 0,
            epoch: 0,
            prev_hash: Hash::ZERO,
            tx_root: Hash::ZERO,
            state_root: Hash::ZERO,
            receipts_root: Hash::ZERO,
            qc: None,
            tc: None,
            timestamp_us: 0,
            proposer: PublicKey::ZERO,
        },
        proposer_signature: Signature::ZERO,
        txs: vec![],
    });
    let n = block_bytes.len();
    block_bytes[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(decode::<Block>(&block_bytes), Err(Error::Malformed(_))));
}

#[test]
fn decode_rejects_invalid_tags_and_utf8() {
    let tx = Transaction {
        body: TxBody {
            channel: "ch".into(),
            from: PublicKey([1; 32]),
            timestamp_us: 5,
            nonce: 6,
            payload: Payload::Data { json: "ab".into() },
        },
        signature: Signature([2; 64]),
    };
    let bytes = encode(&tx);
    let tag_at = 4 + 2 + 32 + 8 + 8;
    assert_eq!(bytes[tag_at], 1);
    // Payload has 4 variants: tag 4 is invalid.
    let mut bad_tag = bytes.clone();
    bad_tag[tag_at] = 4;
    assert!(matches!(decode::<Transaction>(&bad_tag), Err(Error::Malformed(_))));
    // Invalid UTF-8 in the channel.
    let mut bad_utf8 = bytes;
    bad_utf8[4] = 0xff;
    assert!(matches!(decode::<Transaction>(&bad_utf8), Err(Error::Malformed(_))));
    // Option tag other than 0/1 for a header's qc.
    let header = BlockHeader {
        version: 1,
        channel: "ch".into(),
        height: 1,
        round: 1,
        epoch: 0,
        prev_hash: Hash::ZERO,
        tx_root: Hash::ZERO,
        state_root: Hash::ZERO,
        receipts_root: Hash::ZERO,
        qc: None,
        tc: None,
        timestamp_us: 1,
        proposer: PublicKey::ZERO,
    };
    let mut hb = encode(&header);
    let qc_tag_at = 4 + 4 + 2 + 8 * 3 + 32 * 4;
    assert_eq!(hb[qc_tag_at], 0);
    assert_eq!(decode::<BlockHeader>(&hb), Ok(header));
    hb[qc_tag_at] = 2;
    assert!(matches!(decode::<BlockHeader>(&hb), Err(Error::Malformed(_))));
}

// ---------------------------------------------------------------------------------------------
// (c) corruption never yields the identical transaction
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn single_byte_flip_never_decodes_to_same_tx(tx in transaction(), at in any::<Index>(), mask in 1u8..=255) {
        let mut bytes = encode(&tx);
        let i = at.index(bytes.len());
        bytes[i] ^= mask;
        if let Ok(back) = decode::<Transaction>(&bytes) {
            prop_assert!(
                back.hash() != tx.hash() || back.signature != tx.signature,
                "flip at {} decoded to the identical tx", i
            );
            prop_assert_ne!(back, tx);
        }
    }

    #[test]
    fn every_single_byte_flip_of_one_tx_is_detected(tx in transaction()) {
        // Exhaustive over positions for each generated tx (one mask per position).
        let bytes = encode(&tx);
        for i in 0..bytes.len() {
            let mut m = bytes.clone();
            m[i] ^= 0x01 | (i as u8).rotate_left(3);
            if let Ok(back) = decode::<Transaction>(&m) {
                prop_assert!(back.hash() != tx.hash() || back.signature != tx.signature, "flip at {}", i);
            }
        }
    }

    #[test]
    fn every_truncation_of_a_tx_fails(tx in transaction()) {
        let bytes = encode(&tx);
        for len in 0..bytes.len() {
            let r = decode::<Transaction>(&bytes[..len]);
            prop_assert!(matches!(r, Err(Error::Malformed(_))), "truncation to {} of {} decoded: {:?}", len, bytes.len(), r);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) trailing bytes
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decode_rejects_trailing_bytes(tx in transaction(), b in block(), qc in quorum_cert(), extra in vec(any::<u8>(), 1..64)) {
        let mut t = encode(&tx);
        t.extend_from_slice(&extra);
        prop_assert!(matches!(decode::<Transaction>(&t), Err(Error::Malformed(_))));

        let mut bb = encode(&b);
        bb.extend_from_slice(&extra);
        prop_assert!(matches!(decode::<Block>(&bb), Err(Error::Malformed(_))));

        let mut q = encode(&qc);
        q.extend_from_slice(&extra);
        prop_assert!(matches!(decode::<QuorumCert>(&q), Err(Error::Malformed(_))));
    }
}

#[test]
fn decode_rejects_a_single_trailing_zero() {
    let qc = QuorumCert {
        epoch: 1,
        round: 2,
        height: 3,
        block_hash: Hash([4; 32]),
        signer_bitmap: vec![1],
        aggregate_signature: BlsSignature([5; 96]),
    };
    let mut bytes = encode(&qc);
    assert_eq!(decode::<QuorumCert>(&bytes), Ok(qc));
    bytes.push(0);
    assert!(matches!(decode::<QuorumCert>(&bytes), Err(Error::Malformed(_))));
}

// ---------------------------------------------------------------------------------------------
// (e) size limit
// ---------------------------------------------------------------------------------------------

#[test]
fn decode_rejects_input_over_max_message_bytes() {
    assert_eq!(MAX_MESSAGE_BYTES, 16 * 1024 * 1024);
    let big = vec![0u8; MAX_MESSAGE_BYTES + 1];
    let expected = Error::TooLarge { size: MAX_MESSAGE_BYTES + 1, limit: MAX_MESSAGE_BYTES };
    assert_eq!(decode::<Transaction>(&big), Err(expected.clone()));
    assert_eq!(decode::<Block>(&big), Err(expected.clone()));
    assert_eq!(decode::<QuorumCert>(&big), Err(expected));
}

#[test]
fn decode_at_exactly_max_message_bytes_is_not_too_large() {
    // The limit is inclusive: MAX_MESSAGE_BYTES zeros are parsed (and fail for trailing bytes).
    let at_limit = vec![0u8; MAX_MESSAGE_BYTES];
    assert!(matches!(decode::<Transaction>(&at_limit), Err(Error::Malformed(_))));

    // A real value of exactly MAX_MESSAGE_BYTES decodes.
    let mut tx = Transaction {
        body: TxBody {
            channel: String::new(),
            from: PublicKey::ZERO,
            timestamp_us: 0,
            nonce: 0,
            payload: Payload::Data { json: String::new() },
        },
        signature: Signature::ZERO,
    };
    let overhead = tx.encoded_len();
    tx.body.payload = Payload::Data { json: "x".repeat(MAX_MESSAGE_BYTES - overhead) };
    let bytes = encode(&tx);
    assert_eq!(bytes.len(), MAX_MESSAGE_BYTES);
    assert_eq!(decode::<Transaction>(&bytes).as_ref(), Ok(&tx));
}
