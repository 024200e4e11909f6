//! Transaction decoding: what `sendTransaction` and a block from elsewhere
//! feed the ledger. Decoding either fails cleanly or yields the one
//! canonical encoding of a transaction; the stateless checks and the
//! signature never panic; a decoded transaction's JSON round-trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parlend_contracts::dev::DEV_CHAIN_ID;
use parlend_contracts::{Instruction, SignedTransaction, VerifiedTransaction};

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = SignedTransaction::decode(data) else {
        assert!(VerifiedTransaction::from_bytes(data, DEV_CHAIN_ID).is_err());
        return;
    };
    assert_eq!(signed.encode(), data, "decoding accepted a non-canonical encoding");
    for instruction in &signed.transaction.instructions {
        let json = serde_json::to_string(instruction).expect("an instruction serializes");
        let back: Instruction = serde_json::from_str(&json).expect("an instruction's JSON parses");
        assert_eq!(&back, instruction, "JSON round trip of {json}");
    }
    let access = serde_json::to_string(&signed.transaction.access).expect("an access set serializes");
    let back: parlend_ledger::AccessSet = serde_json::from_str(&access).expect("an access set's JSON parses");
    assert_eq!(back, signed.transaction.access);
    let verified = VerifiedTransaction::from_bytes(data, DEV_CHAIN_ID);
    assert_eq!(verified.is_ok(), signed.verify(DEV_CHAIN_ID).is_ok());
});
