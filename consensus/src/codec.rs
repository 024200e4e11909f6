//! The wire and write-ahead-log encoding of the engine's messages: borsh.
//!
//! The engine's crates derive borsh for their generic messages (their
//! `borsh` features); parlend's own types derive it too, so most messages
//! encode with borsh as they are. Two engine types have no borsh form in
//! 0.8.2 (the validator proof, and the extended commit certificate inside a
//! sync response); they travel as mirror structs with the same fields.
//! Decoding is borsh's: strict, no trailing bytes.

use bytes::Bytes;
use malachitebft_app_channel::app::consensus::{LivenessMsg, ProposedValue, SignedConsensusMsg};
use malachitebft_app_channel::app::streaming::StreamMessage;
use malachitebft_app_channel::app::types::codec::{Codec, HasEncodedLen};
use malachitebft_app_channel::app::types::core::{
    ExtendedCommitCertificate, ExtendedCommitSignature, PolkaCertificate, Round, SignedExtension, ValidatorProof,
};
use malachitebft_app_channel::app::types::sync::{RawDecidedValue, Request, Response, Status};
use malachitebft_sync::ValueResponse;

use borsh::{BorshDeserialize, BorshSerialize};

use crate::context::{BlockId, Ctx, Height, ProposalPart, ValidatorAddress};
use crate::signing::VoteSignature;

/// Bytes that are not a message of the expected type.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode a consensus message: {0}")]
pub struct CodecError(#[from] std::io::Error);

/// The codec for the network, value sync and the write-ahead log.
#[derive(Clone, Copy, Debug, Default)]
pub struct WireCodec;

fn encode<T: BorshSerialize>(message: &T) -> Result<Bytes, CodecError> {
    Ok(Bytes::from(borsh::to_vec(message)?))
}

fn decode<T: BorshDeserialize>(bytes: &[u8]) -> Result<T, CodecError> {
    Ok(borsh::from_slice(bytes)?)
}

/// `Codec<T>` for types that are borsh as they are.
macro_rules! borsh_codec {
    ($($message:ty),* $(,)?) => {$(
        impl Codec<$message> for WireCodec {
            type Error = CodecError;

            fn decode(&self, bytes: Bytes) -> Result<$message, CodecError> {
                decode(&bytes)
            }

            fn encode(&self, message: &$message) -> Result<Bytes, CodecError> {
                encode(message)
            }
        }
    )*};
}

borsh_codec!(
    ProposalPart,
    SignedConsensusMsg<Ctx>,
    LivenessMsg<Ctx>,
    StreamMessage<ProposalPart>,
    ProposedValue<Ctx>,
    PolkaCertificate<Ctx>,
    Status<Ctx>,
    Request<Ctx>,
);

/// The validator proof's fields.
#[derive(BorshSerialize, BorshDeserialize)]
struct ProofWire {
    public_key: Vec<u8>,
    peer_id: Vec<u8>,
    signature: VoteSignature,
}

impl Codec<ValidatorProof<Ctx>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<ValidatorProof<Ctx>, CodecError> {
        let wire: ProofWire = decode(&bytes)?;
        Ok(ValidatorProof::new(wire.public_key, wire.peer_id, wire.signature))
    }

    fn encode(&self, proof: &ValidatorProof<Ctx>) -> Result<Bytes, CodecError> {
        encode(&ProofWire {
            public_key: proof.public_key.clone(),
            peer_id: proof.peer_id.clone(),
            signature: proof.signature,
        })
    }
}

/// One precommit of a certificate, with its (unused) extension.
#[derive(BorshSerialize, BorshDeserialize)]
struct SignatureWire {
    address: ValidatorAddress,
    signature: VoteSignature,
    extension: Option<SignedExtension<Ctx>>,
}

/// A decided block and its certificate, as value sync sends them.
#[derive(BorshSerialize, BorshDeserialize)]
struct DecidedWire {
    value_bytes: Vec<u8>,
    height: Height,
    round: Round,
    value_id: BlockId,
    signatures: Vec<SignatureWire>,
}

/// A value-sync response.
#[derive(BorshSerialize, BorshDeserialize)]
struct ResponseWire {
    start_height: Height,
    values: Vec<DecidedWire>,
}

impl DecidedWire {
    fn from_value(value: &RawDecidedValue<Ctx>) -> DecidedWire {
        let certificate = &value.certificate;
        DecidedWire {
            value_bytes: value.value_bytes.to_vec(),
            height: certificate.height,
            round: certificate.round,
            value_id: certificate.value_id,
            signatures: certificate
                .commit_signatures
                .iter()
                .map(|commit| SignatureWire {
                    address: commit.address,
                    signature: commit.signature,
                    extension: commit.extension.clone(),
                })
                .collect(),
        }
    }

    fn into_value(self) -> RawDecidedValue<Ctx> {
        let commit_signatures = self
            .signatures
            .into_iter()
            .map(|commit| ExtendedCommitSignature::new(commit.address, commit.signature, commit.extension))
            .collect();
        let certificate = ExtendedCommitCertificate {
            height: self.height,
            round: self.round,
            value_id: self.value_id,
            commit_signatures,
        };
        RawDecidedValue::new(Bytes::from(self.value_bytes), certificate)
    }
}

fn response_wire(response: &Response<Ctx>) -> ResponseWire {
    let Response::ValueResponse(response) = response;
    ResponseWire {
        start_height: response.start_height,
        values: response.values.iter().map(DecidedWire::from_value).collect(),
    }
}

impl Codec<Response<Ctx>> for WireCodec {
    type Error = CodecError;

    fn decode(&self, bytes: Bytes) -> Result<Response<Ctx>, CodecError> {
        let wire: ResponseWire = decode(&bytes)?;
        let values = wire.values.into_iter().map(DecidedWire::into_value).collect();
        Ok(Response::ValueResponse(ValueResponse::new(wire.start_height, values)))
    }

    fn encode(&self, response: &Response<Ctx>) -> Result<Bytes, CodecError> {
        encode(&response_wire(response))
    }
}

impl HasEncodedLen<Response<Ctx>> for WireCodec {
    fn encoded_len(&self, response: &Response<Ctx>) -> Result<usize, CodecError> {
        Ok(borsh::object_length(&response_wire(response))?)
    }
}

#[cfg(test)]
mod tests {
    use malachitebft_app_channel::app::streaming::{StreamContent, StreamId};
    use parlend_ledger::{Address, Hash, Signature};

    use super::*;

    fn certificate() -> ExtendedCommitCertificate<Ctx> {
        ExtendedCommitCertificate {
            height: Height(7),
            round: Round::new(2),
            value_id: BlockId(Hash([3; 32])),
            commit_signatures: vec![ExtendedCommitSignature::new(
                ValidatorAddress(Address([1; 32])),
                VoteSignature(Signature([9; 64])),
                None,
            )],
        }
    }

    #[test]
    fn a_sync_response_and_a_part_stream_round_trip_and_garbage_is_refused() {
        let response = Response::ValueResponse(ValueResponse::new(
            Height(7),
            vec![RawDecidedValue::new(Bytes::from_static(b"block"), certificate())],
        ));
        let bytes = WireCodec.encode(&response).unwrap();
        assert_eq!(WireCodec.encoded_len(&response).unwrap(), bytes.len());
        assert_eq!(Codec::<Response<Ctx>>::decode(&WireCodec, bytes.clone()).unwrap(), response);
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Codec::<Response<Ctx>>::decode(&WireCodec, Bytes::from(longer)).is_err());
        assert!(Codec::<Response<Ctx>>::decode(&WireCodec, bytes.slice(..bytes.len() - 1)).is_err());

        let part = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"id")),
            1,
            StreamContent::Data(ProposalPart::Data(vec![1, 2, 3])),
        );
        let bytes = WireCodec.encode(&part).unwrap();
        assert_eq!(Codec::<StreamMessage<ProposalPart>>::decode(&WireCodec, bytes).unwrap(), part);
        assert!(Codec::<StreamMessage<ProposalPart>>::decode(&WireCodec, Bytes::from_static(&[0xff; 7])).is_err());
    }

    use std::fmt::Debug;

    use malachitebft_app_channel::app::types::core::{NilOrVal, SignedMessage, VoteType};
    use proptest::prelude::*;

    use crate::context::{Proposal, Vote};

    /// `bytes` as a `T` off the network: an error or a message whose
    /// encoding decodes to it again, never a panic.
    fn survives<T: PartialEq + Debug>(bytes: &[u8])
    where
        WireCodec: Codec<T, Error = CodecError>,
    {
        let Ok(message) = Codec::<T>::decode(&WireCodec, Bytes::copy_from_slice(bytes)) else { return };
        let encoded = Codec::<T>::encode(&WireCodec, &message).expect("a decoded message encodes");
        let again = Codec::<T>::decode(&WireCodec, encoded).expect("its encoding decodes");
        assert_eq!(again, message);
    }

    /// `bytes` as every message the engine decodes from peers.
    fn every_message(bytes: &[u8]) {
        survives::<ProposalPart>(bytes);
        survives::<SignedConsensusMsg<Ctx>>(bytes);
        survives::<LivenessMsg<Ctx>>(bytes);
        survives::<StreamMessage<ProposalPart>>(bytes);
        survives::<ProposedValue<Ctx>>(bytes);
        survives::<PolkaCertificate<Ctx>>(bytes);
        survives::<Status<Ctx>>(bytes);
        survives::<Request<Ctx>>(bytes);
        survives::<Response<Ctx>>(bytes);
        survives::<ValidatorProof<Ctx>>(bytes);
    }

    /// Valid encodings of several message types, to mutate.
    fn seeds() -> Vec<Vec<u8>> {
        let address = ValidatorAddress(Address([1; 32]));
        let signature = VoteSignature(Signature([9; 64]));
        let vote = Vote {
            kind: VoteType::Precommit,
            height: Height(7),
            round: Round::new(2),
            value: NilOrVal::Val(BlockId(Hash([3; 32]))),
            validator: address,
            extension: None,
        };
        let proposal = Proposal {
            height: Height(7),
            round: Round::new(2),
            value: BlockId(Hash([3; 32])),
            pol_round: Round::Nil,
            proposer: address,
        };
        let response = Response::ValueResponse(ValueResponse::new(
            Height(7),
            vec![RawDecidedValue::new(Bytes::from_static(b"block"), certificate())],
        ));
        let part = StreamMessage::new(
            StreamId::new(Bytes::from_static(b"id")),
            1,
            StreamContent::Data(ProposalPart::Init { height: Height(7), round: Round::new(0), proposer: address }),
        );
        let proof = ValidatorProof::<Ctx>::new(vec![1; 32], vec![0, 36, 8, 1, 18, 32], signature);
        vec![
            WireCodec
                .encode(&SignedConsensusMsg::<Ctx>::Vote(SignedMessage::new(vote.clone(), signature)))
                .unwrap()
                .to_vec(),
            WireCodec
                .encode(&SignedConsensusMsg::<Ctx>::Proposal(SignedMessage::new(proposal, signature)))
                .unwrap()
                .to_vec(),
            WireCodec.encode(&LivenessMsg::<Ctx>::Vote(SignedMessage::new(vote, signature))).unwrap().to_vec(),
            WireCodec.encode(&response).unwrap().to_vec(),
            WireCodec.encode(&part).unwrap().to_vec(),
            WireCodec.encode(&ProposalPart::Fin { signature }).unwrap().to_vec(),
            WireCodec.encode(&proof).unwrap().to_vec(),
        ]
    }

    #[test]
    fn the_seeds_are_messages() {
        let seeds: Vec<Bytes> = seeds().into_iter().map(Bytes::from).collect();
        assert!(Codec::<SignedConsensusMsg<Ctx>>::decode(&WireCodec, seeds[0].clone()).is_ok());
        assert!(Codec::<SignedConsensusMsg<Ctx>>::decode(&WireCodec, seeds[1].clone()).is_ok());
        assert!(Codec::<LivenessMsg<Ctx>>::decode(&WireCodec, seeds[2].clone()).is_ok());
        assert!(Codec::<Response<Ctx>>::decode(&WireCodec, seeds[3].clone()).is_ok());
        assert!(Codec::<StreamMessage<ProposalPart>>::decode(&WireCodec, seeds[4].clone()).is_ok());
        assert!(Codec::<ProposalPart>::decode(&WireCodec, seeds[5].clone()).is_ok());
        assert!(Codec::<ValidatorProof<Ctx>>::decode(&WireCodec, seeds[6].clone()).is_ok());
    }

    #[test]
    fn every_seed_with_one_byte_changed_or_cut_short_decodes_or_is_refused() {
        for seed in seeds() {
            for at in 0..seed.len() {
                for byte in [0, 1, 2, 31, 33, 0x7f, 0x80, 0xff] {
                    let mut bytes = seed.clone();
                    bytes[at] = byte;
                    every_message(&bytes);
                }
                every_message(&seed[..at]);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Valid messages with bytes changed, cut or added, and bytes of
        /// any kind: every message type decodes them or refuses them.
        #[test]
        fn a_peers_bytes_never_panic_the_codec(
            seed in 0usize..7,
            changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
            keep in any::<prop::sample::Index>(),
            tail in proptest::collection::vec(any::<u8>(), 0..8),
            raw in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut bytes = seeds()[seed].clone();
            for (at, byte) in changes {
                let at = at.index(bytes.len());
                bytes[at] = byte;
            }
            bytes.truncate(keep.index(bytes.len() + 1));
            bytes.extend(tail);
            every_message(&bytes);
            every_message(&raw);
        }
    }
}
